// Package server wires Arca together: configuration → storage → seal and
// barrier → identity and services → the HTTP listener, and runs it until its
// context ends. It is the only package that imports concrete backends and
// seals.
package server

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/dev"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/iamsvc"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kms"
	"github.com/arca-kms/arca/internal/lease"
	"github.com/arca-kms/arca/internal/memguard"
	"github.com/arca-kms/arca/internal/posture"
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/secrets/rotator"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage"
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
	// AuditOperator, when set, receives every operator action on the seal
	// (init, unseal shares, seal, rekey, rotate-root, backup) for the audit
	// log. Events never carry shares or keys.
	AuditOperator func(context.Context, OperatorEvent)
}

// Run starts Arca and serves until ctx is done, then shuts down gracefully.
//
// In --dev mode the dev seal unseals at once. Otherwise Arca starts sealed
// (uninitialized on an empty data dir): `arca operator init` and `arca
// operator unseal` open it, or an auto-unseal seal (openAutoSeal) opens it
// at start. Either way the services are built only once the barrier is
// unsealed (see lifecycle.go).
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
	// Before any key is in memory: no core dumps, no ptrace by peers, and
	// (outside dev mode) no swapping. See docs/SECURITY.md.
	guard := memguard.Options{Mlock: !cfg.Dev && !cfg.DisableMlock}
	if cfg.Dev {
		guard.NoMlockWhy = "in dev mode"
	}
	memguard.Harden(log, guard)
	if cfg.Audit {
		auditWriterProc(log)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	holder, err := nodeID()
	if err != nil {
		return err
	}
	backend, err := openStorage(ctx, cfg, holder, log)
	if err != nil {
		return err
	}
	defer backend.Close()
	b := barrier.New(backend)
	clk := &clock{}
	// What does not depend on the barrier is built once, so a bad setting
	// fails the start rather than an unseal.
	web, err := newWebIdentity(cfg.OIDCProviders, clk.Now, log)
	if err != nil {
		return err
	}
	rotators, err := newRotators(cfg.Rotators, opts.Getenv, log)
	if err != nil {
		return err
	}
	inv := &invalidator{}
	deps := buildDeps{cfg: cfg, log: log, b: b, clk: clk, holder: holder, web: web, rotators: rotators, inv: inv, backend: backend}
	c := &core{b: b, raw: backend, log: log, audit: opts.AuditOperator, backend: backend, maxStale: cfg.MaxStaleness}
	stopWatch := watchStorage(ctx, backend, cfg, log, c, inv)
	defer stopWatch()
	c.build = func(ctx context.Context) (*services, error) { return buildServices(ctx, deps) }
	defer func() {
		c.mu.Lock()
		c.seal()
		c.mu.Unlock()
		if c.rewrapDone != nil {
			<-c.rewrapDone
		}
		// An auto-unseal seal may hold sessions (an HSM's) to release.
		if cl, ok := c.auto.(io.Closer); ok {
			if err := cl.Close(); err != nil {
				log.Warn("closing the seal", "err", err)
			}
		}
	}()

	var akid string
	var secret []byte
	if cfg.Dev {
		if akid, secret, err = startDev(ctx, cfg, opts, log, c); err != nil {
			return err
		}
	} else if err := startSealed(ctx, cfg, log, opts.Getenv, c); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	scheme := "http"
	var tlsCfg *tls.Config
	if !cfg.Dev && !cfg.TLSDisable {
		certs, err := loadServerCert(cfg, log, opts.Stdout)
		if err != nil {
			ln.Close()
			return err
		}
		defer certs.stop()
		pool, err := clientCAs(cfg)
		if err != nil {
			ln.Close()
			return err
		}
		tlsCfg = withClientAuth(serverTLSConfig(certs), pool)
		scheme = "https"
	} else if !cfg.Dev {
		log.Warn("TLS is disabled (--tls-disable): requests, unseal shares and credentials travel in the clear; use it only behind a TLS-terminating proxy on a trusted network")
	}
	endpoint := scheme + "://" + ln.Addr().String()
	if cfg.Dev {
		if err := writeDevFiles(cfg, endpoint, akid, secret); err != nil {
			ln.Close()
			return err
		}
		printBanner(opts.Stdout, cfg, endpoint, akid, secret)
	}

	srv := &http.Server{
		Handler:           c,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	idle := trackNewConns(srv)
	errc := make(chan error, 1)
	go func() {
		if tlsCfg != nil {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	// test/e2e reads this line to learn the port when started on :0.
	log.Info("arca serving", "endpoint", endpoint, "regions", cfg.Regions, "account", cfg.AccountID, "version", Version, "sealed", c.sealed())

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

// startDev opens the dev seal, initializes or unseals with it, and makes
// sure the root credentials exist (from ARCA_ROOT_* when set).
func startDev(ctx context.Context, cfg config.Config, opts Options, log *slog.Logger, c *core) (string, []byte, error) {
	log.Warn("DEVELOPMENT MODE: the root key is kept in a file next to the data, and credentials are printed; never use --dev in production",
		"data_dir", cfg.DataDir)
	initialized, err := c.b.Initialized(ctx)
	if err != nil {
		return "", nil, err
	}
	if initialized {
		// A data dir migrated to a production seal is not reopened by the
		// dev seal key that may still lie beside it.
		if stored, err := c.sealConfig(ctx); err == nil && stored.Type != seal.TypeDev {
			return "", nil, fmt.Errorf("this data dir is sealed with the %q seal, not the dev seal: start it without --dev, with --seal %s", stored.Type, stored.Type)
		}
	}
	sealPath := filepath.Join(cfg.DataDir, dev.FileName)
	if _, err := os.Stat(sealPath); initialized && errors.Is(err, os.ErrNotExist) {
		// A new key could never open this data: refuse rather than create one.
		return "", nil, fmt.Errorf("%s is missing: this data dir was initialized with that dev seal key and cannot be opened without it", sealPath)
	}
	ds, created, err := dev.Open(cfg.DataDir)
	if err != nil {
		return "", nil, err
	}
	c.auto, c.autoType = ds, seal.TypeDev
	c.mu.Lock()
	defer c.mu.Unlock()
	if !initialized {
		enc, _ := seal.Config{Version: 1, Type: seal.TypeDev}.Encode()
		err := c.b.InitializeWithSealConfig(ctx, ds, enc)
		switch {
		case errors.Is(err, barrier.ErrAlreadyInitialized):
			// Another node sharing the database initialized it first.
			initialized = true
		case err != nil:
			return "", nil, fmt.Errorf("initialize barrier: %w", err)
		default:
			if err := c.publish(ctx, ds); err != nil {
				return "", nil, err
			}
			log.Info("initialized new data dir", "data_dir", cfg.DataDir, "dev_seal_created", created)
		}
	}
	if initialized {
		if err := c.unsealWith(ctx, ds); err != nil {
			return "", nil, fmt.Errorf("unseal with the dev seal key: %w", err)
		}
	}
	return c.live.Load().ensureRoot(ctx, opts.Getenv("ARCA_ROOT_ACCESS_KEY_ID"), []byte(opts.Getenv("ARCA_ROOT_SECRET_ACCESS_KEY")))
}

// startSealed prepares a production start: it opens the configured
// auto-unseal seal, if any, and unseals with it when the data dir is
// initialized; otherwise the server waits, sealed, for the operator. When
// the data dir's seal is not the configured one, seal migration
// (migrate.go) takes over.
func startSealed(ctx context.Context, cfg config.Config, log *slog.Logger, getenv func(string) string, c *core) error {
	initialized, err := c.b.Initialized(ctx)
	if err != nil {
		return err
	}
	var stored seal.Config
	if initialized {
		if stored, err = c.sealConfig(ctx); err != nil {
			return fmt.Errorf("read the seal config: %w", err)
		}
		// Say "migration needed" before the configured seal can fail for
		// want of a key that only a migration would create.
		if want := cmp.Or(cfg.Seal, seal.TypeShamir); !cfg.SealMigrate && (stored.Type != want || keyChanged(want, stored.Params, configuredParams(cfg))) {
			return migrateRequired(stored, want)
		}
	}
	// A new HSM key only where it cannot strand data: before init, or as
	// the target of a migration (the old seal opens the data until the
	// rewrap commits).
	auto, typ, err := openAutoSeal(ctx, cfg, log, getenv, !initialized || cfg.SealMigrate)
	if err != nil {
		return err
	}
	c.auto, c.autoType = auto, typ
	if !initialized {
		log.Warn("Arca is not initialized: run `arca operator init` against this server", "seal", typ)
		return nil
	}
	if stored.Type != typ || keyChanged(typ, stored.Params, sealParams(auto)) {
		if !cfg.SealMigrate {
			return migrateRequired(stored, typ)
		}
		return c.startMigration(ctx, cfg, log, getenv, stored, auto, typ)
	}
	if cfg.SealMigrate {
		log.Info("seal_migrate is set but the data dir already uses the configured seal: nothing to migrate (unset it)", "seal", typ)
	}
	if auto == nil {
		log.Warn("Arca is sealed: unseal it with `arca operator unseal` (needs the threshold of unseal shares)",
			"shares", stored.Shares, "threshold", stored.Threshold)
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.unsealWith(ctx, auto); err != nil {
		return fmt.Errorf("auto-unseal with the %s seal: %w", typ, err)
	}
	log.Info("auto-unsealed", "seal", typ)
	return nil
}

// buildDeps are buildServices' inputs that outlive a seal.
type buildDeps struct {
	cfg      config.Config
	log      *slog.Logger
	b        *barrier.Barrier
	clk      *clock
	holder   string
	web      sts.WebIdentity
	rotators map[string]rotator.Rotator
	// inv routes other nodes' changes to the live caches (storage.go).
	inv *invalidator
	// backend is the storage under the barrier (the audit log ships to a
	// shared one: auditnodes.go).
	backend storage.Backend
}

// buildServices constructs everything that lives over an unsealed barrier:
// identities, keys, the services, the transports and the background work
// (the scheduler, the last-used flusher), which it starts. stop undoes it.
func buildServices(ctx context.Context, d buildDeps) (*services, error) {
	cfg, log, b, clk := d.cfg, d.log, d.b, d.clk
	ids := iam.New(b, cfg.Partition)
	stsSvc := sts.New(b, directory{ids}, sts.Config{Partition: cfg.Partition, Now: clk.Now, Logger: log, WebIdentity: d.web})
	creds := credentials{ids: ids, sts: stsSvc}
	// Writes under a scheduler's fencing token check it in their own
	// transaction (internal/lease): a paused former leader writes nothing.
	ks := keystore.New(lease.Fenced{B: b})
	// stsSvc.Policies is the identity store's policies plus, for temporary
	// credentials, the session policy.
	kmsSvc := kms.New(ks, kms.Config{Partition: cfg.Partition, Logger: log, Now: clk.Now, Regions: cfg.Regions, Identities: stsSvc})
	verifier := sigv4.NewVerifier(creds, sigv4.Options{})
	secretsSvc := secrets.New(lease.Fenced{B: b}, kmsSvc, secrets.Config{Partition: cfg.Partition, Regions: cfg.Regions, Now: clk.Now,
		Logger: log, Identities: stsSvc, Rotators: d.rotators})
	// The audit log (audit.go): its signing key lives under the barrier,
	// so it opens with the services and closes when they stop.
	aud, err := openAudit(ctx, cfg, b, d.backend, log)
	if err != nil {
		secretsSvc.Close()
		ks.Wipe()
		return nil, err
	}
	sweeps := []kms.Sweep{{Name: "sts sessions", Run: stsSweep(stsSvc)}, {Name: "secrets", Run: secretsSweep(secretsSvc)}}
	if aud.extras != nil {
		sweeps = append(sweeps, kms.Sweep{Name: "audit retention", Run: aud.extras.sweep})
	}
	if d.inv != nil {
		d.inv.set(ks, ids, secretsSvc, stsSvc)
	}
	sched := &kms.Scheduler{Service: kmsSvc, Lease: lease.New(b), Holder: d.holder, Interval: cfg.SchedulerInterval, Logger: log,
		Also: sweeps}
	trailSvc := trail.New(trail.Config{Index: aud.index(), Identities: stsSvc, Operator: cfg.AccountID,
		PublicKeys: aud.publicKeys, Rotate: aud.rotate, Export: aud.export, Now: clk.Now, Logger: log})
	// Every signed request notes its access key's last use (posture.go).
	// With mutual TLS, client certificates narrow who may sign (mtls.go).
	apiVerifier := bindClientCerts(cfg, usedVerifier{v: verifier, ids: ids, now: clk.Now}, creds)
	postureSvc := posture.NewService(posture.Config{Inventory: inventory{ks: ks, ids: ids, regions: cfg.Regions, partition: cfg.Partition},
		Identities: stsSvc, Now: clk.Now, AccessKeyMaxAge: time.Duration(cfg.PostureAccessKeyMaxAge), Secrets: secretStatuses{secretsSvc}})
	api := awsjson.New(awsjson.Config{
		Services: []*awsjson.Service{awsjson.KMS(kmsSvc), awsjson.SecretsManager(secretsSvc), awsjson.Arca(postureSvc),
			awsjson.CloudTrail(trailSvc)},
		Audit:      aud.auditor,
		Verifier:   apiVerifier,
		Principals: creds,
		Regions:    cfg.Regions,
		Logger:     log,
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
	inflight := &inflight{}
	bgCtx, stopBG := context.WithCancel(context.Background())
	// The flusher's last write needs the barrier open, so it stops in
	// release, not with the rest of the background work in stop.
	flushCtx, stopFlush := context.WithCancel(context.Background())
	schedDone, flushDone := make(chan struct{}), make(chan struct{})
	go func() { defer close(schedDone); sched.Run(bgCtx) }()
	go func() { defer close(flushDone); flushLastUsed(flushCtx, ids, lastUsedFlushInterval, log) }()
	aud.start(bgCtx, clk.Now)
	return &services{
		api: inflight.wrap(handler),
		authn: func(r *http.Request, body []byte) (string, error) {
			res, err := verifier.Verify(r, body)
			if err != nil {
				return "", err
			}
			p, err := creds.Principal(r.Context(), res.AccessKeyID, res.SessionToken)
			if err != nil {
				return "", err
			}
			if p.Type != auth.Root || p.Account != cfg.AccountID {
				return "", errors.New("the caller is not the root user of the default account")
			}
			return p.ARN, nil
		},
		ensureRoot: func(ctx context.Context, id string, secret []byte) (string, []byte, error) {
			return ids.EnsureRootAccessKey(ctx, cfg.AccountID, id, secret)
		},
		record: aud.record,
		release: func() {
			stopFlush()
			<-flushDone
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			sched.Release(rctx)
		},
		stop: func() {
			if d.inv != nil {
				d.inv.set(nil, nil, nil, nil)
			}
			stopBG()
			stopFlush()
			<-schedDone
			<-flushDone
			// Requests still running hold cached keys: wipe after them.
			inflight.wait(10 * time.Second)
			aud.close(log)
			secretsSvc.Close()
			ks.Wipe()
		},
	}, nil
}

// inflight counts requests being served by one set of services.
type inflight struct{ n atomic.Int64 }

func (f *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.n.Add(1)
		defer f.n.Add(-1)
		h.ServeHTTP(w, r)
	})
}

// wait returns once no request is in flight, or after d.
func (f *inflight) wait(d time.Duration) {
	for end := time.Now().Add(d); f.n.Load() > 0 && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
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
	if isQuery(r) {
		b.query.ServeHTTP(w, r)
		return
	}
	b.json.ServeHTTP(w, r)
}

// isQuery reports whether r is an AWS Query request (IAM, STS).
func isQuery(r *http.Request) bool {
	if r.Method == http.MethodPost && r.Header.Get("X-Amz-Target") == "" {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		return err == nil && mt == "application/x-www-form-urlencoded"
	}
	return false
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
