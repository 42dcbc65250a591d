package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestPolicyLint(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		args     []string
		stdin    string
		wantExit int
		wantIDs  []string // finding IDs in -o json output, in order
		wantErr  string   // substring of the file's error
	}{
		{"public principal", []string{"testdata/public-key-policy.json"}, "", 1, []string{"ARCA-POL-001", "ARCA-POL-002", "ARCA-POL-003"}, ""},
		// AWS's default key policy: kms:* to the account root is only informational.
		{"default key policy passes", []string{"--account", "111122223333", "testdata/default-key-policy.json"}, "", 0, []string{"ARCA-POL-002"}, ""},
		{"fail-on info catches it", []string{"--fail-on", "info", "testdata/default-key-policy.json"}, "", 1, []string{"ARCA-POL-002"}, ""},
		{"escalation in an identity policy", []string{"--kind", "identity", "testdata/escalation-identity-policy.json"}, "", 1, []string{"ARCA-POL-004"}, ""},
		{"identity policy parsed as a key policy", []string{"testdata/escalation-identity-policy.json"}, "", 1, nil, "Missing required field Principal"},
		{"fail-on high lets medium pass", []string{"--kind", "identity", "--fail-on", "high", "-"},
			`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`, 0, []string{"ARCA-POL-002"}, ""},
		{"stdin syntax error", []string{"-"}, "nope", 1, nil, "Syntax errors in policy."},
		{"missing file", []string{"testdata/nonexistent.json"}, "", 1, nil, "no such file"},
		{"bad kind", []string{"--kind", "x", "-"}, "{}", 2, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"policy", "lint", "-o", "json"}, tc.args...)
			code := Run(context.Background(), args, strings.NewReader(tc.stdin), &out, &errOut)
			if code != tc.wantExit {
				t.Fatalf("exit = %d, want %d; stderr: %s", code, tc.wantExit, errOut.String())
			}
			if tc.wantExit == 2 {
				return
			}
			var reports []lintReport
			if err := json.Unmarshal(out.Bytes(), &reports); err != nil || len(reports) != 1 {
				t.Fatalf("output %q: %v", out.String(), err)
			}
			r := reports[0]
			if !strings.Contains(r.Error, tc.wantErr) || (tc.wantErr == "") != (r.Error == "") {
				t.Errorf("error = %q, want containing %q", r.Error, tc.wantErr)
			}
			var ids []string
			for _, f := range r.Findings {
				ids = append(ids, f.ID)
				if f.Fix == "" || f.Message == "" || f.Severity == "" {
					t.Errorf("finding %+v lacks a message, fix or severity", f)
				}
			}
			if strings.Join(ids, ",") != strings.Join(tc.wantIDs, ",") {
				t.Errorf("findings = %v, want %v", ids, tc.wantIDs)
			}
		})
	}
}
