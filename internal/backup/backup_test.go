package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/arca-kms/arca/internal/storage/memory"
)

func fill(t *testing.T, n int) *memory.Backend {
	t.Helper()
	m := memory.New()
	for i := range n {
		if err := m.Put(context.Background(), fmt.Sprintf("k/%05d", i), bytes.Repeat([]byte{byte(i)}, i%300)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := fill(t, 1300) // more than two List pages
	ents, err := Read(ctx, src)
	if err != nil || len(ents) != 1300 {
		t.Fatalf("Read: %d, %v", len(ents), err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, ents); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	dst := memory.New()
	if err := Restore(ctx, dst, got); err != nil {
		t.Fatal(err)
	}
	back, _ := dst.List(ctx, "", "", 0)
	if len(back) != len(ents) {
		t.Fatalf("restored %d of %d", len(back), len(ents))
	}
	for i := range ents {
		if back[i].Key != ents[i].Key || !bytes.Equal(back[i].Value, ents[i].Value) {
			t.Fatalf("record %d differs", i)
		}
	}
	if err := Restore(ctx, dst, got); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("Restore onto a non-empty backend = %v", err)
	}
}

// TestDamageDetected: any flipped byte, truncation or trailing data fails.
func TestDamageDetected(t *testing.T) {
	ents, _ := Read(context.Background(), fill(t, 20))
	var buf bytes.Buffer
	Write(&buf, ents)
	good := buf.Bytes()
	for i := 0; i < len(good); i += 7 {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		if _, err := Parse(bytes.NewReader(bad)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipped byte %d: %v", i, err)
		}
	}
	for _, n := range []int{0, 5, len(good) / 2, len(good) - 1} {
		if _, err := Parse(bytes.NewReader(good[:n])); !errors.Is(err, ErrCorrupt) {
			t.Errorf("truncated to %d: %v", n, err)
		}
	}
	if _, err := Parse(bytes.NewReader(append(bytes.Clone(good), 0))); !errors.Is(err, ErrCorrupt) {
		t.Error("trailing byte accepted")
	}
}

func TestEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, nil); err != nil {
		t.Fatal(err)
	}
	got, err := Parse(&buf)
	if err != nil || len(got) != 0 {
		t.Fatalf("%v %v", got, err)
	}
}
