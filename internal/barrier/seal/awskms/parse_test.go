package awskms

import (
	"encoding/binary"
	"testing"
)

// FuzzParse: the wrapped-keyring framing never panics and keeps every
// field inside the input.
func FuzzParse(f *testing.F) {
	good := []byte(magic + "\x01")
	good = binary.BigEndian.AppendUint16(good, 3)
	good = append(good, "arn"...)
	good = binary.BigEndian.AppendUint16(good, 4)
	good = append(good, "edek"...)
	good = append(good, make([]byte, nonceN+16)...)
	f.Add(good)
	f.Add([]byte("AKMS\x01\xff\xff"))
	f.Add([]byte("AKMS\x02"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parse(b)
		if err != nil {
			return
		}
		if len(p.hdr)+len(p.nonce)+len(p.ciphertext) != len(b) || len(p.nonce) != nonceN || len(p.ciphertext) < 16 || p.arn == "" || len(p.edek) == 0 {
			t.Fatalf("inconsistent parse of %x", b)
		}
	})
}
