package kmscrypto

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// TestMLDSAKeyGenVectors derives keys from the NIST ACVP FIPS 204 keyGen
// seeds in testdata and checks the public keys.
func TestMLDSAKeyGenVectors(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/mldsa-keygen-fips204.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests []struct {
			ParameterSet string `json:"parameterSet"`
			TcID         int    `json:"tcId"`
			Seed, PK     string
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Tests) != 9 {
		t.Fatalf("vectors: %v", err)
	}
	specs := map[string]KeySpec{"ML-DSA-44": MLDSA44, "ML-DSA-65": MLDSA65, "ML-DSA-87": MLDSA87}
	for _, v := range doc.Tests {
		spec := specs[v.ParameterSet]
		seed, _ := hex.DecodeString(v.Seed)
		k, err := ParseKey(spec, seed)
		if err != nil {
			t.Fatalf("tc %d: %v", v.TcID, err)
		}
		if got := checkMLDSASPKI(t, spec, mustPub(t, k)); !bytes.EqualFold([]byte(hex.EncodeToString(got)), []byte(v.PK)) {
			t.Errorf("tc %d (%s): public key differs", v.TcID, v.ParameterSet)
		}
	}
}
