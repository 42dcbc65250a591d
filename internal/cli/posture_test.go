package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestPrintFindings(t *testing.T) {
	var b bytes.Buffer
	printFindings(&b, &findingsOutput{Account: "111122223333"})
	if !strings.Contains(b.String(), "No findings for account 111122223333") {
		t.Errorf("empty: %q", b.String())
	}
	b.Reset()
	f := finding{ID: "ARCA-KMS-001", Severity: "MEDIUM", Title: "T", ResourceArn: "arn:k1", Detail: "rotation off", Remedy: "Enable it."}
	g := f
	g.ResourceArn = "arn:k2"
	printFindings(&b, &findingsOutput{Account: "111122223333", Findings: []finding{f, g}})
	out := b.String()
	if !strings.Contains(out, "SEVERITY") || !strings.Contains(out, "arn:k2") || strings.Count(out, "Enable it.") != 1 || !strings.Contains(out, "2 finding(s)") {
		t.Errorf("table:\n%s", out)
	}
}

func TestListFindingsRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "ArcaService.ArcaListFindings" || !strings.Contains(r.Header.Get("Authorization"), "/us-east-1/arca/aws4_request") {
			t.Errorf("target %q, authorization %q", r.Header.Get("X-Amz-Target"), r.Header.Get("Authorization"))
		}
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		if in["MinSeverity"] == "BAD" {
			w.WriteHeader(400)
			w.Write([]byte(`{"__type":"ValidationException","message":"bad severity"}`))
			return
		}
		w.Write([]byte(`{"Findings":[{"Id":"ARCA-IAM-003","Severity":"HIGH"}],"Account":"000000000000"}`))
	}))
	defer srv.Close()
	creds := aws.Credentials{AccessKeyID: "AKIAEXAMPLEEXAMPLE00", SecretAccessKey: "secret"}
	out, err := listFindings(context.Background(), srv.URL, "us-east-1", creds, map[string]any{})
	if err != nil || len(out.Findings) != 1 || out.Findings[0].ID != "ARCA-IAM-003" {
		t.Fatalf("listFindings = %+v, %v", out, err)
	}
	if _, err := listFindings(context.Background(), srv.URL, "us-east-1", creds, map[string]any{"MinSeverity": "BAD"}); err == nil || err.Error() != "ValidationException: bad severity" {
		t.Errorf("error = %v", err)
	}
}
