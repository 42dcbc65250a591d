package secrets

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"strings"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
)

// The character classes of GetRandomPassword, as AWS defines them.
const (
	lowercase   = "abcdefghijklmnopqrstuvwxyz"
	uppercase   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits      = "0123456789"
	punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	maxPassword = 4096
	defPassword = 32
)

// passwordSpec is a GetRandomPassword request with AWS's defaults applied.
type passwordSpec struct {
	length                               int
	exclude                              string
	noNumbers, noPunct, noUpper, noLower bool
	space, requireEach                   bool
}

// randomPassword draws a password from crypto/rand. With requireEach, each
// included class that still has characters appears at least once: one
// character of each is placed, the rest are drawn from the whole set, and
// the result is shuffled (Fisher–Yates), so no position is predictable.
func randomPassword(p passwordSpec) (string, error) {
	var classes []string
	add := func(skip bool, set string) {
		if skip {
			return
		}
		var b strings.Builder
		for _, r := range set {
			if !strings.ContainsRune(p.exclude, r) {
				b.WriteRune(r)
			}
		}
		if b.Len() > 0 {
			classes = append(classes, b.String())
		}
	}
	add(p.noLower, lowercase)
	add(p.noUpper, uppercase)
	add(p.noNumbers, digits)
	add(p.noPunct, punctuation)
	add(!p.space, " ")
	all := strings.Join(classes, "")
	if all == "" {
		return "", svcerr.New(svcerr.InvalidParameter, "The password can't be generated: every character type is excluded.")
	}
	out := make([]byte, 0, p.length)
	if p.requireEach {
		if p.length < len(classes) {
			return "", svcerr.New(svcerr.InvalidParameter, "The password length is too short to include every required character type.")
		}
		for _, cl := range classes {
			i, err := randIntn(len(cl))
			if err != nil {
				return "", internalErr(err)
			}
			out = append(out, cl[i])
		}
	}
	for len(out) < p.length {
		i, err := randIntn(len(all))
		if err != nil {
			return "", internalErr(err)
		}
		out = append(out, all[i])
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := randIntn(i + 1)
		if err != nil {
			return "", internalErr(err)
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
}

// randIntn returns a uniform integer in [0, n) from crypto/rand, by
// rejection of the biased top of the 32-bit range.
func randIntn(n int) (int, error) {
	limit := uint32(1<<32 - (1<<32)%uint64(n))
	var b [4]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, err
		}
		v := binary.LittleEndian.Uint32(b[:])
		if limit == 0 || v < limit {
			return int(v % uint32(n)), nil
		}
	}
}

// GetRandomPassword generates a random password.
func (s *Service) GetRandomPassword(ctx context.Context, c *auth.Caller, in *GetRandomPasswordInput) (*GetRandomPasswordOutput, error) {
	p := passwordSpec{
		length: defPassword, exclude: in.ExcludeCharacters, noNumbers: in.ExcludeNumbers, noPunct: in.ExcludePunctuation,
		noUpper: in.ExcludeUppercase, noLower: in.ExcludeLowercase, space: in.IncludeSpace, requireEach: true,
	}
	if in.PasswordLength != nil {
		if err := svcerr.CheckRange("passwordLength", *in.PasswordLength, 1, maxPassword); err != nil {
			return nil, err
		}
		p.length = int(*in.PasswordLength)
	}
	if err := svcerr.CheckLen("excludeCharacters", len(in.ExcludeCharacters), 0, maxPassword); err != nil {
		return nil, err
	}
	if in.RequireEachIncludedType != nil {
		p.requireEach = *in.RequireEachIncludedType
	}
	if err := s.authorize(ctx, c, ActGetRandomPassword, nil, "*", nil); err != nil {
		return nil, err
	}
	pw, err := randomPassword(p)
	if err != nil {
		return nil, err
	}
	return &GetRandomPasswordOutput{RandomPassword: pw}, nil
}
