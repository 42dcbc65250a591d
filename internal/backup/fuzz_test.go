package backup

import (
	"bytes"
	"testing"

	"github.com/arca-kms/arca/internal/storage"
)

// FuzzParse: no input makes Parse panic or allocate past its limits, and
// whatever it accepts re-encodes to the same bytes.
func FuzzParse(f *testing.F) {
	var buf bytes.Buffer
	Write(&buf, []storage.Entry{{Key: "core/keyring", Value: []byte{1, 2, 3}}, {Key: "kms/a", Value: nil}})
	f.Add(buf.Bytes())
	buf.Reset()
	Write(&buf, nil)
	f.Add(buf.Bytes())
	f.Add([]byte("ARCABAK\x01\xff\xff\xff\xff"))
	f.Add([]byte("ARCABAK\x01\x7f\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ents, err := Parse(bytes.NewReader(in))
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := Write(&out, ents); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), in) {
			t.Fatalf("accepted input does not re-encode to itself")
		}
	})
}
