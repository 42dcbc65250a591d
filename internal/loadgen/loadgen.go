// Package loadgen is Arca's load tool: N workers send SigV4-signed,
// keep-alive AWS JSON requests for a fixed time and it reports throughput,
// latency percentiles and the server's CPU time per operation.
//
// It signs with sigv4.Signer (a cached signing key, one HMAC chain per
// request) because a general-purpose SDK spends more CPU signing than Arca
// spends serving, and would measure itself. It imports sigv4 only.
package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/sigv4"
)

// Config describes one load run.
type Config struct {
	// Endpoint is the server URL, e.g. http://127.0.0.1:4599, or several
	// separated by commas (nodes sharing storage), which requests take in
	// turn.
	Endpoint string
	// AccessKeyID and Secret sign the requests.
	AccessKeyID string
	Secret      []byte
	// Region is the signing region.
	Region string
	// Op is one of Ops.
	Op string
	// Workers is the number of concurrent connections.
	Workers int
	// Duration is how long to send requests.
	Duration time.Duration
	// ServerPIDs are the server processes whose CPU time is measured (one
	// per endpoint); empty means none.
	ServerPIDs []int
}

// Ops are the operations the tool can drive. "baseline" sends an Encrypt
// request to a server that does no work, to measure the ceiling.
var Ops = []string{"encrypt", "decrypt", "generate-data-key", "sign-p256", "verify-p256", "sign-rsa2048", "verify-rsa2048", "generate-mac", "get-secret-value", "baseline"}

// signing describes the key and algorithm of the sign and verify ops.
var signing = map[string]struct{ spec, alg string }{
	"p256":    {"ECC_NIST_P256", "ECDSA_SHA_256"},
	"rsa2048": {"RSA_2048", "RSASSA_PSS_SHA_256"},
}

// Result is the outcome of one run.
type Result struct {
	Op         string
	Workers    int
	Ops        int64
	Errors     int64
	Elapsed    time.Duration
	P50, P99   time.Duration
	CPUPerOpUS float64 // server CPU µs per operation, all servers together; negative when not measured
	// CPUPerNodeUS is, with several servers, each one's CPU µs per request
	// it served (requests are spread evenly).
	CPUPerNodeUS []float64
	FirstError   string
}

// OpsPerSec is the achieved throughput.
func (r Result) OpsPerSec() float64 { return float64(r.Ops) / r.Elapsed.Seconds() }

// String formats r as one table row.
func (r Result) String() string {
	cpu := "n/a"
	if r.CPUPerOpUS >= 0 {
		cpu = fmt.Sprintf("%.1f", r.CPUPerOpUS)
	}
	row := fmt.Sprintf("%-18s %7d %10.0f %9s %9s %17s %7d",
		r.Op, r.Workers, r.OpsPerSec(), fmtDur(r.P50), fmtDur(r.P99), cpu, r.Errors)
	if len(r.CPUPerNodeUS) > 1 {
		per := make([]string, len(r.CPUPerNodeUS))
		for i, c := range r.CPUPerNodeUS {
			per[i] = fmt.Sprintf("%.1f", c)
		}
		row += "  per-node-cpu-us/req " + strings.Join(per, "/")
	}
	return row
}

// Header is the table header matching Result.String.
const Header = "op                 workers      ops/s       p50       p99  server-cpu-us/op  errors"

func fmtDur(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
}

type client struct {
	cfg       Config
	endpoints []string
	next      atomic.Uint64
	http      *http.Client
	signer    *sigv4.Signer
	// smSigner signs Secrets Manager requests (service "secretsmanager").
	smSigner *sigv4.Signer
}

// call sends one request; target is a KMS operation name, or
// "secretsmanager.OPERATION".
func (c *client) call(ctx context.Context, target string, body []byte) ([]byte, error) {
	ep := c.endpoints[int(c.next.Add(1)%uint64(len(c.endpoints)))]
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	signer := c.signer
	if strings.HasPrefix(target, "secretsmanager.") {
		req.Header.Set("X-Amz-Target", target)
		signer = c.smSigner
	} else {
		req.Header.Set("X-Amz-Target", "TrentService."+target)
	}
	if err := signer.Sign(req, body, time.Now()); err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %s", target, resp.StatusCode, bytes.TrimSpace(out))
	}
	return out, nil
}

// prepare creates what the operation needs and returns its target and body.
func (c *client) prepare(ctx context.Context) (string, []byte, error) {
	plaintext := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x42}, 1024))
	if c.cfg.Op == "baseline" {
		// The same request Encrypt sends, so the ceiling reads as much.
		return "Encrypt", []byte(`{"KeyId":"00000000-0000-4000-8000-000000000000","Plaintext":"` + plaintext + `"}`), nil
	}
	if c.cfg.Op == "get-secret-value" {
		// A secret as large as the other ops' plaintext, under the
		// account's default key alias/aws/secretsmanager.
		var rnd [8]byte
		rand.Read(rnd[:])
		name := "bench-" + hex.EncodeToString(rnd[:])
		value := strings.Repeat("s", 1024)
		if _, err := c.call(ctx, "secretsmanager.CreateSecret", []byte(`{"Name":"`+name+`","SecretString":"`+value+`"}`)); err != nil {
			return "", nil, err
		}
		return "secretsmanager.GetSecretValue", []byte(`{"SecretId":"` + name + `"}`), nil
	}
	createBody := `{"Description":"arca bench"}`
	op, variant, _ := strings.Cut(c.cfg.Op, "-")
	if sg, ok := signing[variant]; ok && (op == "sign" || op == "verify") {
		createBody = `{"KeySpec":"` + sg.spec + `","KeyUsage":"SIGN_VERIFY"}`
	} else if c.cfg.Op == "generate-mac" {
		createBody = `{"KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC"}`
	}
	out, err := c.call(ctx, "CreateKey", []byte(createBody))
	if err != nil {
		return "", nil, err
	}
	var ck struct{ KeyMetadata struct{ KeyId string } }
	if err := json.Unmarshal(out, &ck); err != nil {
		return "", nil, err
	}
	keyID := ck.KeyMetadata.KeyId
	msg := base64.StdEncoding.EncodeToString([]byte("a 32-byte message to sign, bench"))
	if sg, ok := signing[variant]; ok && (op == "sign" || op == "verify") {
		signBody := []byte(`{"KeyId":"` + keyID + `","Message":"` + msg + `","SigningAlgorithm":"` + sg.alg + `"}`)
		if op == "sign" {
			return "Sign", signBody, nil
		}
		out, err := c.call(ctx, "Sign", signBody)
		if err != nil {
			return "", nil, err
		}
		var sig struct{ Signature string }
		if err := json.Unmarshal(out, &sig); err != nil {
			return "", nil, err
		}
		return "Verify", []byte(`{"KeyId":"` + keyID + `","Message":"` + msg + `","Signature":"` + sig.Signature + `","SigningAlgorithm":"` + sg.alg + `"}`), nil
	}
	if c.cfg.Op == "generate-mac" {
		return "GenerateMac", []byte(`{"KeyId":"` + keyID + `","Message":"` + msg + `","MacAlgorithm":"HMAC_SHA_256"}`), nil
	}
	encBody := []byte(`{"KeyId":"` + keyID + `","Plaintext":"` + plaintext + `"}`)
	switch c.cfg.Op {
	case "encrypt":
		return "Encrypt", encBody, nil
	case "generate-data-key":
		return "GenerateDataKey", []byte(`{"KeyId":"` + keyID + `","KeySpec":"AES_256"}`), nil
	case "decrypt":
		out, err := c.call(ctx, "Encrypt", encBody)
		if err != nil {
			return "", nil, err
		}
		var enc struct{ CiphertextBlob string }
		if err := json.Unmarshal(out, &enc); err != nil {
			return "", nil, err
		}
		return "Decrypt", []byte(`{"CiphertextBlob":"` + enc.CiphertextBlob + `"}`), nil
	}
	return "", nil, fmt.Errorf("unknown op %q (want one of %s)", c.cfg.Op, strings.Join(Ops, ", "))
}

// Run performs one load run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Workers < 1 || cfg.Duration <= 0 {
		return Result{}, errors.New("loadgen: workers and duration must be positive")
	}
	tr := &http.Transport{MaxIdleConns: cfg.Workers, MaxIdleConnsPerHost: cfg.Workers, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	c := &client{cfg: cfg, endpoints: strings.Split(cfg.Endpoint, ","), http: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		signer: sigv4.NewSigner(cfg.AccessKeyID, cfg.Secret, cfg.Region, "kms"), smSigner: sigv4.NewSigner(cfg.AccessKeyID, cfg.Secret, cfg.Region, "secretsmanager")}
	target, body, err := c.prepare(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("loadgen: prepare %s: %w", cfg.Op, err)
	}

	cpu0, cpuErr := procsCPU(cfg.ServerPIDs)
	var ops, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	lat := make([][]time.Duration, cfg.Workers)
	rctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range cfg.Workers {
		lat[w] = make([]time.Duration, 0, 1<<14)
		wg.Go(func() {
			for rctx.Err() == nil {
				t0 := time.Now()
				_, err := c.call(context.Background(), target, body)
				if err != nil {
					errs.Add(1)
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
				ops.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu1, cpuErr2 := procsCPU(cfg.ServerPIDs)

	all := slices.Concat(lat...)
	slices.Sort(all)
	r := Result{Op: cfg.Op, Workers: cfg.Workers, Ops: ops.Load(), Errors: errs.Load(), Elapsed: elapsed, CPUPerOpUS: -1}
	if len(all) > 0 {
		r.P50 = all[len(all)*50/100]
		r.P99 = all[min(len(all)-1, len(all)*99/100)]
	}
	if len(cfg.ServerPIDs) > 0 && cpuErr == nil && cpuErr2 == nil && r.Ops > 0 {
		var total time.Duration
		for i := range cpu0 {
			d := cpu1[i] - cpu0[i]
			total += d
			if len(cpu0) > 1 {
				r.CPUPerNodeUS = append(r.CPUPerNodeUS, float64(d.Microseconds())/(float64(r.Ops)/float64(len(cpu0))))
			}
		}
		r.CPUPerOpUS = float64(total.Microseconds()) / float64(r.Ops)
	}
	if p := firstErr.Load(); p != nil {
		r.FirstError = *p
	}
	return r, nil
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// procsCPU returns procCPU of each pid.
func procsCPU(pids []int) ([]time.Duration, error) {
	out := make([]time.Duration, len(pids))
	for i, p := range pids {
		d, err := procCPU(p)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

// procCPU returns the user+system CPU time consumed so far by pid.
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, errors.New("no pid")
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields count from after ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("malformed stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("malformed stat times")
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// BaselineHandler is the ceiling: a bare net/http handler that reads the
// request and answers a fixed small JSON body, doing no authentication or
// cryptography.
func BaselineHandler() http.Handler {
	body := []byte(`{"CiphertextBlob":"AAAA","KeyId":"baseline"}`)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
}
