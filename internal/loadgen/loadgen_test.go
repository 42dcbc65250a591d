package loadgen

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunAgainstBaseline(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(BaselineHandler())
	defer srv.Close()
	r, err := Run(context.Background(), Config{
		Endpoint: srv.URL, AccessKeyID: "AKIDTEST", Secret: []byte("secret"), Region: "us-east-1",
		Op: "baseline", Workers: 2, Duration: 200 * time.Millisecond, ServerPIDs: []int{os.Getpid()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops == 0 || r.Errors != 0 || r.P50 <= 0 || r.P99 < r.P50 {
		t.Errorf("result = %+v", r)
	}
	// The "server" is this process, so its CPU per operation must be measured.
	if r.CPUPerOpUS <= 0 {
		t.Errorf("CPU per op = %v, want a measurement", r.CPUPerOpUS)
	}
	if row := r.String(); !strings.HasPrefix(row, "baseline") || len(strings.Fields(row)) != len(strings.Fields(Header)) {
		t.Errorf("row %q does not match the header %q", row, Header)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	if _, err := Run(context.Background(), Config{Op: "baseline"}); err == nil {
		t.Error("zero workers accepted")
	}
	if _, err := procCPU(0); err == nil {
		t.Error("procCPU(0) succeeded")
	}
}
