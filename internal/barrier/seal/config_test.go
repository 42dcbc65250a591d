package seal

import (
	"context"
	"errors"
	"testing"

	"github.com/arca-kms/arca/internal/storage"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg Config
		ok  bool
	}{
		{Config{Version: 1, Type: TypeShamir, Shares: 5, Threshold: 3}, true},
		{Config{Version: 1, Type: TypeShamir, Shares: 1, Threshold: 1}, true},
		{Config{Version: 1, Type: TypeShamir, Shares: 255, Threshold: 255}, true},
		{Config{Version: 1, Type: TypePKCS11, Params: map[string]string{"key_label": "arca"}}, true},
		{Config{Version: 1, Type: TypeShamir, Shares: 3, Threshold: 4}, false},
		{Config{Version: 1, Type: TypeShamir, Shares: 256, Threshold: 2}, false},
		{Config{Version: 1, Type: TypeShamir, Shares: 3, Threshold: 0}, false},
		{Config{Version: 2, Type: TypeShamir, Shares: 3, Threshold: 2}, false},
		{Config{Version: 1, Type: "rot13"}, false},
		{Config{Version: 1}, false},
	} {
		enc, err := c.cfg.Encode()
		if (err == nil) != c.ok {
			t.Errorf("%+v: Encode err = %v, want ok=%v", c.cfg, err, c.ok)
			continue
		}
		if c.ok {
			back, err := Decode(enc)
			if err != nil || back.Type != c.cfg.Type || back.Shares != c.cfg.Shares || back.Threshold != c.cfg.Threshold {
				t.Errorf("round trip %+v: %+v, %v", c.cfg, back, err)
			}
		}
	}
	if _, err := Decode([]byte("{")); err == nil {
		t.Error("bad JSON accepted")
	}
}

type src struct {
	b   []byte
	err error
}

func (s src) SealConfig(context.Context) ([]byte, error) { return s.b, s.err }

func TestLoad(t *testing.T) {
	ctx := context.Background()
	if _, err := Load(ctx, src{err: storage.ErrNotFound}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("missing: %v", err)
	}
	c, err := Load(ctx, src{b: []byte(`{"version":1,"type":"shamir","shares":3,"threshold":2}`)})
	if err != nil || c.Threshold != 2 {
		t.Errorf("Load = %+v, %v", c, err)
	}
}
