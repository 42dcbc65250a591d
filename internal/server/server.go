// Package server wires Arca together: configuration → storage → seal and
// barrier → identity and services → the HTTP listener, and runs it until its
// context ends. It is the only package that imports concrete backends and
// seals.
package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal/dev"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/iamsvc"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kms"
	"github.com/arca-kms/arca/internal/lease"
	"github.com/arca-kms/arca/internal/posture"
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage/bolt"
	"github.com/arca-kms/arca/internal/sts"
	"github.com/arca-kms/arca/internal/trail"
	"github.com/arca-kms/arca/internal/transport/awsjson"
	"github.com/arca-kms/arca/internal/transport/awsquery"
)

// Version is Arca's version, set at build time with -ldflags.
var Version = "dev"

// Options are the process-level inputs of Run, injected for tests.
type Options struct {
	// Getenv reads environment variables (os.Getenv by default).
	Getenv func(string) string
	// Stdout receives the dev-mode banner.
	Stdout io.Writer
	// Logger receives structured logs.
	Logger *slog.Logger
}

// ErrNoSeal is returned when the server is started outside dev mode with no
// production seal configured.
var ErrNoSeal = errors.New("no seal is configured: Arca will not start outside --dev without a seal that protects the root key (use --dev for development)")

// Run starts Arca and serves until ctx is done, then shuts down gracefully.
func Run(ctx context.Context, cfg config.Config, opts Options) error {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if !cfg.Dev {
		return ErrNoSeal
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	backend, err := bolt.Open(filepath.Join(cfg.DataDir, "arca.db"), bolt.Options{})
	if err != nil {
		return err
	}
	defer backend.Close()

	log.Warn("DEVELOPMENT MODE: the root key is kept in a file next to the data, and credentials are printed; never use --dev in production",
		"data_dir", cfg.DataDir)
	b := barrier.New(backend)
	initialized, err := b.Initialized(ctx)
	if err != nil {
		return err
	}
	sealPath := filepath.Join(cfg.DataDir, dev.FileName)
	if _, err := os.Stat(sealPath); initialized && errors.Is(err, os.ErrNotExist) {
		// A new key could never open this data: refuse rather than create one.
		return fmt.Errorf("%s is missing: this data dir was initialized with that dev seal key and cannot be opened without it", sealPath)
	}
	seal, created, err := dev.Open(cfg.DataDir)
	if err != nil {
		return err
	}
	if !initialized {
		if err := b.Initialize(ctx, seal); err != nil {
			return fmt.Errorf("initialize barrier: %w", err)
		}
		log.Info("initialized new data dir", "data_dir", cfg.DataDir, "dev_seal_created", created)
	} else if err := b.Unseal(ctx, seal); err != nil {
		return fmt.Errorf("unseal with the dev seal key: %w", err)
	}
	defer b.Seal()

	ids := iam.New(b, cfg.Partition)
	akid, secret, err := ids.EnsureRootAccessKey(ctx, cfg.AccountID,
		opts.Getenv("ARCA_ROOT_ACCESS_KEY_ID"), []byte(opts.Getenv("ARCA_ROOT_SECRET_ACCESS_KEY")))
	if err != nil {
		return err
	}

	clk := &clock{}
	web, err := newWebIdentity(cfg.OIDCProviders, clk.Now, log)
	if err != nil {
		return err
	}
	stsSvc := sts.New(b, directory{ids}, sts.Config{Partition: cfg.Partition, Now: clk.Now, Logger: log, WebIdentity: web})
	creds := credentials{ids: ids, sts: stsSvc}
	ks := keystore.New(b)
	// stsSvc.Policies is the identity store's policies plus, for temporary
	// credentials, the session policy.
	kmsSvc := kms.New(ks, kms.Config{Partition: cfg.Partition, Logger: log, Now: clk.Now, Regions: cfg.Regions, Identities: stsSvc})
	verifier := sigv4.NewVerifier(creds, sigv4.Options{})
	holder, err := nodeID()
	if err != nil {
		return err
	}
	rotators, err := newRotators(cfg.Rotators, opts.Getenv, log)
	if err != nil {
		return err
	}
	secretsSvc := secrets.New(b, kmsSvc, secrets.Config{Partition: cfg.Partition, Regions: cfg.Regions, Now: clk.Now,
		Logger: log, Identities: stsSvc, Rotators: rotators})
	defer secretsSvc.Close()
	sched := &kms.Scheduler{Service: kmsSvc, Lease: lease.New(b), Holder: holder, Interval: cfg.SchedulerInterval, Logger: log,
		Also: []kms.Sweep{{Name: "sts sessions", Run: stsSvc.Sweep}, {Name: "secrets", Run: secretsSweep(secretsSvc)}}}
	// Every signed request notes its access key's last use (posture.go).
	apiVerifier := usedVerifier{v: verifier, ids: ids, now: clk.Now}
	postureSvc := posture.NewService(posture.Config{Inventory: inventory{ks: ks, ids: ids, regions: cfg.Regions, partition: cfg.Partition},
		Identities: stsSvc, Now: clk.Now, AccessKeyMaxAge: time.Duration(cfg.PostureAccessKeyMaxAge), Secrets: secretStatuses{secretsSvc}})

	aud, err := openAudit(ctx, cfg, b, log)
	if err != nil {
		return err
	}
	defer aud.close(log)
	trailSvc := trail.New(trail.Config{Index: aud.index(), Identities: stsSvc, Operator: cfg.AccountID,
		PublicKeys: aud.publicKeys, Rotate: aud.rotate, Now: clk.Now, Logger: log})

	api := awsjson.New(awsjson.Config{
		Services: []*awsjson.Service{awsjson.KMS(kmsSvc), awsjson.SecretsManager(secretsSvc), awsjson.Arca(postureSvc),
			awsjson.CloudTrail(trailSvc)},
		Audit:      aud.auditor,
		Verifier:   apiVerifier,
		Principals: creds,
		Regions:    cfg.Regions,
		Logger:     log,
		Health: func() awsjson.Health {
			return awsjson.Health{Status: "ok", Sealed: b.Sealed(), Version: Version}
		},
	})

	iamSvc := iamsvc.New(ids, iamsvc.Config{Partition: cfg.Partition, Operator: cfg.AccountID, Now: clk.Now, Logger: log, Identities: stsSvc})
	query := awsquery.New(awsquery.Config{
		Services:   []*awsquery.Service{awsquery.IAM(iamSvc), awsquery.STS(stsSvc)},
		Audit:      aud.auditor,
		Verifier:   apiVerifier,
		Principals: creds,
		Regions:    cfg.Regions,
		Logger:     log,
	})

	var handler http.Handler = byProtocol{json: api, query: query}
	if cfg.Dev {
		mux := http.NewServeMux()
		mux.Handle("/", handler)
		mux.Handle(DevClockPath, &devClock{clock: clk, ver: verifier, princ: creds, sched: sched})
		handler = mux
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	endpoint := "http://" + ln.Addr().String()
	if err := writeDevFiles(cfg, endpoint, akid, secret); err != nil {
		ln.Close()
		return err
	}
	printBanner(opts.Stdout, cfg, endpoint, akid, secret)

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	idle := trackNewConns(srv)
	schedCtx, stopSched := context.WithCancel(ctx)
	schedDone := make(chan struct{})
	go func() { defer close(schedDone); sched.Run(schedCtx) }()
	defer func() { stopSched(); <-schedDone }()
	flushDone := make(chan struct{})
	go func() { defer close(flushDone); flushLastUsed(schedCtx, ids, lastUsedFlushInterval, log) }()
	defer func() { stopSched(); <-flushDone }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// test/e2e reads this line to learn the port when started on :0.
	log.Info("arca serving", "endpoint", endpoint, "regions", cfg.Regions, "account", cfg.AccountID, "version", Version)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(sctx) }()
	// Shutdown waits up to 5s for connections that never sent a request;
	// they carry no work, so close them now.
	idle.closeAll()
	if err := <-done; err != nil {
		log.Warn("graceful shutdown incomplete", "err", err)
	}
	return nil
}

// newConns tracks connections that have not yet sent a request.
type newConns struct {
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func trackNewConns(srv *http.Server) *newConns {
	n := &newConns{conns: map[net.Conn]struct{}{}}
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		n.mu.Lock()
		defer n.mu.Unlock()
		if st == http.StateNew {
			n.conns[c] = struct{}{}
		} else {
			delete(n.conns, c)
		}
	}
	return n
}

func (n *newConns) closeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for c := range n.conns {
		c.Close()
	}
}

// byProtocol sends AWS Query requests (IAM, STS: a form-encoded POST with no
// X-Amz-Target) to query and everything else, /healthz included, to json.
type byProtocol struct{ json, query http.Handler }

func (b byProtocol) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == "" {
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "application/x-www-form-urlencoded" {
			b.query.ServeHTTP(w, r)
			return
		}
	}
	b.json.ServeHTTP(w, r)
}

// principals is what the dev clock needs to know who calls.
type principals interface {
	Principal(ctx context.Context, accessKeyID, sessionToken string) (auth.Principal, error)
}

// nodeID names this process for leases: host name plus random bits, so two
// processes on one host differ.
func nodeID() (string, error) {
	host, _ := os.Hostname()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}

// writeDevFiles writes an AWS shared credentials and config file pair into
// the data dir so the AWS CLI and SDKs find Arca with two variables.
func writeDevFiles(cfg config.Config, endpoint, akid string, secret []byte) error {
	creds := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", akid, secret)
	conf := fmt.Sprintf("[default]\nregion = %s\nendpoint_url = %s\noutput = json\n", cfg.Regions[0], endpoint)
	for name, body := range map[string]string{"credentials": creds, "config": conf} {
		p := filepath.Join(cfg.DataDir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := os.Chmod(p, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func printBanner(w io.Writer, cfg config.Config, endpoint, akid string, secret []byte) {
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		abs = cfg.DataDir
	}
	fmt.Fprintf(w, `
Arca is running in DEVELOPMENT mode: the root key is stored unprotected in %[1]s.

  Endpoint:          %[2]s
  Region:            %[3]s
  Account:           %[4]s
  Access key ID:     %[5]s
  Secret access key: %[6]s

Point the AWS CLI and SDKs at it:

  export AWS_SHARED_CREDENTIALS_FILE=%[1]s/credentials AWS_CONFIG_FILE=%[1]s/config
  aws kms create-key --endpoint-url %[2]s

`, abs, endpoint, cfg.Regions[0], cfg.AccountID, akid, secret)
}
