package kmscrypto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/emmansun/gmsm/sm4"
)

func TestSM4(t *testing.T) {
	t.Parallel()
	// GB/T 32907-2016 Appendix A, example 1.
	key, _ := hex.DecodeString("0123456789abcdeffedcba9876543210")
	b, _ := sm4.NewCipher(key)
	out := make([]byte, 16)
	b.Encrypt(out, key)
	if hex.EncodeToString(out) != "681edf34d206965e86b3e94f536e4246" {
		t.Errorf("SM4 example 1 = %x", out)
	}

	sm, aes := testKey(t, SM4), testKey(t, SymmetricDefault)
	h := Header{KeyID: "acct:sm4", Version: 2}
	ec := map[string]string{"k": "v"}
	for _, n := range []int{0, 1, 4096} {
		pt := bytes.Repeat([]byte{7}, n)
		blob, err := EncryptSymmetric(sm, h, pt, ec)
		if err != nil {
			t.Fatal(err)
		}
		if blob[3] != algSM4GCM {
			t.Errorf("SM4 blob algorithm byte %#x", blob[3])
		}
		if got, err := DecryptSymmetric(sm, blob, ec); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("SM4 round trip %d: %v", n, err)
		}
		if _, err := DecryptSymmetric(aes, blob, ec); err != ErrInvalidCiphertext {
			t.Errorf("AES key opened an SM4 blob: %v", err)
		}
		if n > 1 {
			continue // every-bit flips on the short blobs are enough
		}
		flipEveryBit(blob, func(i int, bad []byte) {
			if _, err := DecryptSymmetric(sm, bad, ec); err != ErrInvalidCiphertext {
				t.Errorf("SM4 byte %d flipped: %v", i, err)
			}
		})
		for l := range len(blob) {
			if _, err := DecryptSymmetric(sm, blob[:l], ec); err != ErrInvalidCiphertext {
				t.Errorf("SM4 blob truncated to %d: %v", l, err)
			}
		}
	}
	aesBlob, _ := EncryptSymmetric(aes, h, []byte("x"), nil)
	if _, err := DecryptSymmetric(sm, aesBlob, nil); err != ErrInvalidCiphertext {
		t.Errorf("SM4 key opened an AES blob: %v", err)
	}
	// Relabelling an AES blob as SM4 fails: the byte is in the AAD, and
	// the key would differ anyway.
	relabelled := bytes.Clone(aesBlob)
	relabelled[3] = algSM4GCM
	if _, err := DecryptSymmetric(sm, relabelled, nil); err != ErrInvalidCiphertext {
		t.Errorf("relabelled blob: %v", err)
	}
	for _, spec := range []KeySpec{RSA2048, HMAC256, ECCNistP256, MLDSA44} {
		if _, err := EncryptSymmetric(testKey(t, spec), h, []byte("x"), nil); !errors.Is(err, ErrUnsupportedSpec) {
			t.Errorf("EncryptSymmetric with %s: %v", spec, err)
		}
		if _, err := DecryptSymmetric(testKey(t, spec), aesBlob, nil); err != ErrInvalidCiphertext {
			t.Errorf("DecryptSymmetric with %s: %v", spec, err)
		}
	}
}
