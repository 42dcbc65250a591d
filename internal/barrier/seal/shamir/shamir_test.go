package shamir

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/bits"
	"os"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
)

// gfMul multiplies in GF(2^8) with the AES polynomial x^8+x^4+x^3+x+1, by
// shift-and-add: an implementation independent of the library's log/exp
// tables, used only to check it.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

// gfInv is a^254 = a^-1 for a != 0.
func gfInv(a byte) byte {
	r := byte(1)
	for e := 254; e > 0; e >>= 1 {
		if e&1 != 0 {
			r = gfMul(r, a)
		}
		a = gfMul(a, a)
	}
	return r
}

// lagrange0 interpolates the points at x = 0, byte by byte.
func lagrange0(xs []byte, ys [][]byte) []byte {
	out := make([]byte, len(ys[0]))
	for i := range xs {
		basis := byte(1)
		for j := range xs {
			if i != j {
				basis = gfMul(basis, gfMul(xs[j], gfInv(xs[i]^xs[j])))
			}
		}
		for k := range out {
			out[k] ^= gfMul(ys[i][k], basis)
		}
	}
	return out
}

func split(t *testing.T, n, k int) ([]byte, [][]byte) {
	t.Helper()
	key, err := NewRootKey()
	if err != nil {
		t.Fatal(err)
	}
	shares, err := Split(key, n, k)
	if err != nil {
		t.Fatalf("Split(%d, %d): %v", n, k, err)
	}
	return key, shares
}

// TestVectors: fixed shares (testdata/vectors.json, made by an independent
// GF(2^8) Lagrange interpolation) must combine to their secrets.
func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []struct {
		Secret string   `json:"secret"`
		Shares []string `json:"shares"`
	}
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	for i, v := range vs {
		var shares [][]byte
		for _, s := range v.Shares {
			b, err := hex.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			shares = append(shares, b)
		}
		got, err := Combine(shares)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if hex.EncodeToString(got) != v.Secret {
			t.Errorf("vector %d: got %x, want %s", i, got, v.Secret)
		}
	}
}

// TestAgainstIndependentInterpolation: the library's shares interpolate, by
// the independent field arithmetic above, to the key.
func TestAgainstIndependentInterpolation(t *testing.T) {
	for _, nk := range [][2]int{{2, 2}, {5, 3}, {7, 7}, {255, 4}} {
		key, shares := split(t, nk[0], nk[1])
		xs := []byte{}
		ys := [][]byte{}
		for _, s := range shares[:nk[1]] {
			xs = append(xs, s[KeyLen])
			ys = append(ys, s[:KeyLen])
		}
		if got := lagrange0(xs, ys); !bytes.Equal(got, key) {
			t.Errorf("%v: independent interpolation gives %x, want %x", nk, got, key)
		}
	}
}

// TestAnyKRecover: every K-subset of the shares (for small N, all of them;
// otherwise random ones) recovers the key, and so does any larger subset.
func TestAnyKRecover(t *testing.T) {
	for _, nk := range [][2]int{{1, 1}, {3, 1}, {3, 2}, {5, 3}, {6, 6}, {7, 4}} {
		n, k := nk[0], nk[1]
		key, shares := split(t, n, k)
		for mask := 1; mask < 1<<n; mask++ {
			if bits.OnesCount(uint(mask)) < k {
				continue
			}
			var sub [][]byte
			for i := range n {
				if mask&(1<<i) != 0 {
					sub = append(sub, shares[i])
				}
			}
			got, err := Combine(sub)
			if err != nil || !bytes.Equal(got, key) {
				t.Fatalf("N=%d K=%d subset %b: got %x, %v", n, k, mask, got, err)
			}
		}
	}
	// A large split: random subsets of K.
	key, shares := split(t, 255, 17)
	for range 20 {
		perm := randPerm(t, 255)
		var sub [][]byte
		for _, i := range perm[:17] {
			sub = append(sub, shares[i])
		}
		if got, err := Combine(sub); err != nil || !bytes.Equal(got, key) {
			t.Fatalf("255/17 random subset: %v", err)
		}
	}
}

func randPerm(t *testing.T, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	var b [2]byte
	for i := n - 1; i > 0; i-- {
		rand.Read(b[:])
		j := int(uint16(b[0])<<8|uint16(b[1])) % (i + 1)
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// TestKMinusOneRevealNothing: with K-1 shares, every candidate secret is
// consistent. For each byte position and each of the 256 candidate values
// v there is exactly one polynomial of degree K-1 through (0, v) and the K-1
// points, so K-1 shares rule out nothing. We check it constructively: for
// every candidate v, adding the point (0, v) and interpolating at the x of a
// withheld share yields some value, and that value is different for every
// v (a bijection), so each candidate secret corresponds to exactly one
// possible withheld share.
func TestKMinusOneRevealNothing(t *testing.T) {
	for _, nk := range [][2]int{{3, 2}, {5, 3}, {6, 5}} {
		n, k := nk[0], nk[1]
		_, shares := split(t, n, k)
		known := shares[:k-1]
		withheld := shares[n-1][KeyLen]
		for pos := 0; pos < KeyLen; pos += 7 {
			seen := map[byte]bool{}
			for v := 0; v < 256; v++ {
				xs := []byte{0}
				ys := [][]byte{{byte(v)}}
				for _, s := range known {
					xs = append(xs, s[KeyLen])
					ys = append(ys, []byte{s[pos]})
				}
				// Interpolate at x = withheld: shift so the target is 0.
				sx := make([]byte, len(xs))
				for i := range xs {
					sx[i] = xs[i] ^ withheld
				}
				y := lagrange0(sx, ys)[0]
				if seen[y] {
					t.Fatalf("N=%d K=%d pos %d: two candidate secrets need the same withheld share byte", n, k, pos)
				}
				seen[y] = true
			}
		}
	}
}

// TestWrongShareGivesWrongKeyAndSealRefuses: a changed share combines to
// another key, and the seal's authenticated check refuses it.
func TestWrongShareGivesWrongKeyAndSealRefuses(t *testing.T) {
	ctx := context.Background()
	key, shares := split(t, 5, 3)
	s, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := s.Wrap(ctx, []byte("keyring"))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Clone(shares[1])
	bad[3] ^= 1
	got, err := Combine([][]byte{shares[0], bad, shares[2]})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, key) {
		t.Fatal("a changed share still gave the key")
	}
	s2, err := New(got)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Unwrap(ctx, wrapped); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Unwrap with the wrong key = %v, want ErrWrongKey", err)
	}
	pt, err := s.Unwrap(ctx, wrapped)
	if err != nil || string(pt) != "keyring" {
		t.Errorf("Unwrap with the right key = %q, %v", pt, err)
	}
	wrapped[len(wrapped)-1] ^= 1
	if _, err := s.Unwrap(ctx, wrapped); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Unwrap of altered input = %v", err)
	}
}

func TestSplitBounds(t *testing.T) {
	key, _ := NewRootKey()
	for _, nk := range [][2]int{{0, 0}, {1, 0}, {2, 3}, {256, 2}, {3, -1}} {
		if _, err := Split(key, nk[0], nk[1]); err == nil {
			t.Errorf("Split(%d, %d) accepted", nk[0], nk[1])
		}
	}
	if _, err := Split(key, 255, 255); err != nil {
		t.Errorf("Split(255, 255): %v", err)
	}
}

func TestShareEncoding(t *testing.T) {
	_, shares := split(t, 3, 2)
	txt := EncodeShare(shares[0])
	back, err := DecodeShare(" " + txt + "\n")
	if err != nil || !bytes.Equal(back, shares[0]) {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []string{"", "!!", txt[:10], EncodeShare(make([]byte, ShareLen))} {
		if _, err := DecodeShare(bad); !errors.Is(err, ErrBadShare) {
			t.Errorf("DecodeShare(%q) = %v", bad, err)
		}
	}
}

func TestProgress(t *testing.T) {
	key, shares := split(t, 5, 3)
	p := NewProgress(3)
	for i, want := range []int{1, 1, 2} { // the second is a repeat
		idx := []int{0, 0, 3}[i]
		if err := p.Add(bytes.Clone(shares[idx])); err != nil {
			t.Fatal(err)
		}
		if p.Count() != want {
			t.Fatalf("after share %d: count %d, want %d", i, p.Count(), want)
		}
	}
	conflict := bytes.Clone(shares[3])
	conflict[0] ^= 1
	if err := p.Add(conflict); !errors.Is(err, ErrBadShare) {
		t.Errorf("conflicting share: %v", err)
	}
	if p.Ready() {
		t.Fatal("ready with 2 of 3")
	}
	held := p.shares[0]
	p.Add(bytes.Clone(shares[4]))
	got, err := p.Combine()
	if err != nil || !bytes.Equal(got, key) {
		t.Fatalf("Combine: %v", err)
	}
	if p.Count() != 0 || !bytes.Equal(held, make([]byte, ShareLen)) {
		t.Error("Combine did not reset and zero the shares")
	}
}

func TestEncryptShareToAge(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, shares := split(t, 2, 2)
	txt := EncodeShare(shares[0])
	enc, err := EncryptShare(txt, id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(enc, txt) || !strings.HasPrefix(enc, "-----BEGIN AGE ENCRYPTED FILE-----") {
		t.Fatalf("not an armored age file: %q", enc)
	}
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(enc)), id)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(r)
	if buf.String() != txt {
		t.Errorf("decrypted %q, want the share", buf.String())
	}
	if err := CheckRecipient("age1notakey"); err == nil {
		t.Error("bad recipient accepted")
	}
}
