package kmscrypto

import (
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/emmansun/gmsm/sm3"
)

// wcurve is a short Weierstrass curve y² = x³ + ax + b over GF(p), with
// textbook affine arithmetic in math/big. It is deliberately naive and
// shares no code with gmsm or decred: tests use it to check their SM2 and
// secp256k1 signatures and shared secrets independently.
type wcurve struct {
	p, a, b, n, gx, gy *big.Int
}

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic(s)
	}
	return v
}

// sm2Curve is the SM2 recommended curve, GB/T 32918.5-2017.
var sm2Curve = &wcurve{
	p:  hexInt("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF"),
	a:  hexInt("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC"),
	b:  hexInt("28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93"),
	n:  hexInt("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123"),
	gx: hexInt("32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"),
	gy: hexInt("BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0"),
}

// k1Curve is secp256k1, SEC 2 v2 §2.4.1.
var k1Curve = &wcurve{
	p:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F"),
	a:  big.NewInt(0),
	b:  big.NewInt(7),
	n:  hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"),
	gx: hexInt("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798"),
	gy: hexInt("483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8"),
}

func (c *wcurve) onCurve(x, y *big.Int) bool {
	if x == nil {
		return true
	}
	l := new(big.Int).Mul(y, y)
	r := new(big.Int).Exp(x, big.NewInt(3), c.p)
	r.Add(r, new(big.Int).Mul(c.a, x)).Add(r, c.b)
	return l.Sub(l, r).Mod(l, c.p).Sign() == 0
}

// add returns P + Q; nil coordinates are the point at infinity.
func (c *wcurve) add(x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	if x1 == nil {
		return x2, y2
	}
	if x2 == nil {
		return x1, y1
	}
	var l *big.Int
	if x1.Cmp(x2) == 0 {
		if new(big.Int).Add(y1, y2).Mod(new(big.Int).Add(y1, y2), c.p).Sign() == 0 {
			return nil, nil
		}
		num := new(big.Int).Mul(x1, x1)
		num.Mul(num, big.NewInt(3)).Add(num, c.a)
		den := new(big.Int).Lsh(y1, 1)
		l = num.Mul(num, den.ModInverse(den, c.p))
	} else {
		num := new(big.Int).Sub(y2, y1)
		den := new(big.Int).Sub(x2, x1)
		den.Mod(den, c.p)
		l = num.Mul(num, den.ModInverse(den, c.p))
	}
	l.Mod(l, c.p)
	x3 := new(big.Int).Mul(l, l)
	x3.Sub(x3, x1).Sub(x3, x2).Mod(x3, c.p)
	y3 := new(big.Int).Sub(x1, x3)
	y3.Mul(y3, l).Sub(y3, y1).Mod(y3, c.p)
	return x3, y3
}

// mul returns k·P by double-and-add.
func (c *wcurve) mul(k, x, y *big.Int) (*big.Int, *big.Int) {
	var rx, ry *big.Int
	for i := k.BitLen() - 1; i >= 0; i-- {
		rx, ry = c.add(rx, ry, rx, ry)
		if k.Bit(i) == 1 {
			rx, ry = c.add(rx, ry, x, y)
		}
	}
	return rx, ry
}

func parseDERSig(t *testing.T, sig []byte) (r, s *big.Int) {
	t.Helper()
	var v struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &v); err != nil || len(rest) != 0 {
		t.Fatalf("signature is not DER (r, s): %x", sig)
	}
	return v.R, v.S
}

// verifyECDSA is textbook ECDSA verification (SEC 1 §4.1.4) of a 256-bit
// digest.
func (c *wcurve) verifyECDSA(px, py *big.Int, digest []byte, r, s *big.Int) bool {
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(c.n) >= 0 || s.Cmp(c.n) >= 0 {
		return false
	}
	e := new(big.Int).SetBytes(digest)
	w := new(big.Int).ModInverse(s, c.n)
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, c.n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, c.n)
	x1, y1 := c.mul(u1, c.gx, c.gy)
	x2, y2 := c.mul(u2, px, py)
	x, _ := c.add(x1, y1, x2, y2)
	return x != nil && new(big.Int).Mod(x, c.n).Cmp(r) == 0
}

// sm2Digest is e = SM3(Z_A ‖ M), GB/T 32918.2 §5.5 and §6.1, with the
// given user ID.
func sm2Digest(px, py *big.Int, uid, msg []byte) []byte {
	z := sm3.New()
	z.Write(binary.BigEndian.AppendUint16(nil, uint16(len(uid)*8)))
	z.Write(uid)
	for _, v := range []*big.Int{sm2Curve.a, sm2Curve.b, sm2Curve.gx, sm2Curve.gy, px, py} {
		z.Write(v.FillBytes(make([]byte, 32)))
	}
	e := sm3.New()
	e.Write(z.Sum(nil))
	e.Write(msg)
	return e.Sum(nil)
}

// verifySM2 is SM2 signature verification, GB/T 32918.2 §7.1, of digest e.
func verifySM2(px, py *big.Int, e []byte, r, s *big.Int) bool {
	c := sm2Curve
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(c.n) >= 0 || s.Cmp(c.n) >= 0 {
		return false
	}
	tt := new(big.Int).Add(r, s)
	tt.Mod(tt, c.n)
	if tt.Sign() == 0 {
		return false
	}
	x1, y1 := c.mul(s, c.gx, c.gy)
	x2, y2 := c.mul(tt, px, py)
	x, _ := c.add(x1, y1, x2, y2)
	if x == nil {
		return false
	}
	rr := new(big.Int).SetBytes(e)
	rr.Add(rr, x).Mod(rr, c.n)
	return rr.Cmp(r) == 0
}

// spkiPoint returns the uncompressed point of an EC SubjectPublicKeyInfo,
// and its algorithm parameters (the curve OID).
func spkiPoint(t *testing.T, der []byte) (x, y *big.Int, curve asn1.ObjectIdentifier) {
	t.Helper()
	var spki struct {
		Algo struct {
			OID    asn1.ObjectIdentifier
			Params asn1.ObjectIdentifier
		}
		Key asn1.BitString
	}
	if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) != 0 {
		t.Fatalf("not an EC SubjectPublicKeyInfo: %v", err)
	}
	if !spki.Algo.OID.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}) {
		t.Fatalf("algorithm %v is not id-ecPublicKey", spki.Algo.OID)
	}
	b := spki.Key.Bytes
	if len(b) != 65 || b[0] != 4 {
		t.Fatalf("public key is not an uncompressed 256-bit point: %x", b)
	}
	return new(big.Int).SetBytes(b[1:33]), new(big.Int).SetBytes(b[33:]), spki.Algo.Params
}

func TestReferenceCurves(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]*wcurve{"sm2": sm2Curve, "secp256k1": k1Curve} {
		if !c.onCurve(c.gx, c.gy) {
			t.Errorf("%s: G not on the curve", name)
		}
		if x, _ := c.mul(c.n, c.gx, c.gy); x != nil {
			t.Errorf("%s: n·G is not infinity", name)
		}
	}
	// GB/T 32905 SM3 example 1.
	if got := sm3.Sum([]byte("abc")); hex.EncodeToString(got[:]) != "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0" {
		t.Errorf("SM3(abc) = %x", got)
	}
}
