package svcerr

import (
	"strings"
	"testing"
)

func TestValidationMessages(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string // "" for nil
	}{
		{"missing", Missing("KeyId"), "Value null at 'KeyId' failed to satisfy constraint: Member must not be null"},
		{"len ok", CheckLen("f", 3, 1, 3), ""},
		{"len short", CheckLen("f", 0, 1, 3), "Value at 'f' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"len long", CheckLen("f", 4, 1, 3), "Member must have length less than or equal to 3"},
		{"int32 low", CheckRange[int32]("n", 6, 7, 30), "Value '6' at 'n' failed to satisfy constraint: Member must have value greater than or equal to 7"},
		{"int64 high", CheckRange[int64]("n", 31, 7, 30), "Member must have value less than or equal to 30"},
		{"int ok", CheckRange("n", 7, 7, 30), ""},
	} {
		if tc.want == "" {
			if tc.err != nil {
				t.Errorf("%s: %v; want nil", tc.name, tc.err)
			}
			continue
		}
		e := As(tc.err)
		if e == nil || e.Code != Validation || !strings.HasPrefix(e.Msg, "1 validation error detected: ") || !strings.Contains(e.Msg, tc.want) {
			t.Errorf("%s: %v; want ValidationException with %q", tc.name, tc.err, tc.want)
		}
	}
}
