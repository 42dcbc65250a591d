package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/server"
)

// operatorOpts are the settings every `arca operator` command shares.
type operatorOpts struct {
	address     string
	caCert      string
	fingerprint string
	output      string
	stdin       io.Reader
	stdout      io.Writer
}

// errSealedStatus makes `arca operator status` exit 2 when sealed (as
// `vault status` does), so scripts can test it.
var errSealedStatus = errors.New("sealed")

// operatorCmd is `arca operator`: the seal lifecycle of a running server
// (init, unseal, seal, status, rekey, rotate-root, backup) and offline
// restore.
func operatorCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	o := &operatorOpts{stdin: stdin, stdout: stdout}
	cmd := &cobra.Command{
		Use:   "operator",
		Short: "Initialize, unseal, seal, rekey, rotate, back up and restore an Arca server",
		Long: `Operate the seal of an Arca server.

The server is --address (default $ARCA_ADDR, else https://127.0.0.1:4599).
Its certificate is checked against the system roots, or --ca-cert
($ARCA_CACERT), or pinned by its SHA-256 fingerprint with --tls-fingerprint
($ARCA_TLS_FINGERPRINT; the server prints it at start).

init, unseal, status and rekey shares need no credentials (a share is its
own proof). seal, rotate-root, backup and starting or cancelling a rekey
need the root user of the default account: AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, used to sign the request (SigV4).`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.address, "address", envOr("ARCA_ADDR", "https://127.0.0.1:4599"), "server URL (env ARCA_ADDR)")
	pf.StringVar(&o.caCert, "ca-cert", os.Getenv("ARCA_CACERT"), "PEM file of the CA (or self-signed certificate) to trust (env ARCA_CACERT)")
	pf.StringVar(&o.fingerprint, "tls-fingerprint", os.Getenv("ARCA_TLS_FINGERPRINT"), "pin the server certificate by its SHA-256 (hex) (env ARCA_TLS_FINGERPRINT)")
	pf.StringVarP(&o.output, "output", "o", "text", "output format: text or json")

	var shares, threshold int
	var recipients []string
	var recipientsFile, nonce, dataDir string
	var reset, cancel bool
	var initSeal string
	splitFlags := func(c *cobra.Command) {
		c.Flags().IntVar(&shares, "key-shares", 5, "number of unseal shares to make (1-255)")
		c.Flags().IntVar(&threshold, "key-threshold", 3, "shares needed to unseal (1 to --key-shares)")
		c.Flags().StringArrayVar(&recipients, "age-recipient", nil, "age public key (age1...) to encrypt a share to; repeat once per share, in order")
		c.Flags().StringVar(&recipientsFile, "age-recipients-file", "", "file with one age public key per line, one per share")
	}
	loadRecipients := func() ([]string, error) {
		out := append([]string(nil), recipients...)
		if recipientsFile != "" {
			b, err := os.ReadFile(recipientsFile)
			if err != nil {
				return nil, err
			}
			for _, l := range strings.Split(string(b), "\n") {
				if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
					out = append(out, l)
				}
			}
		}
		return out, nil
	}
	run := func(f func(ctx context.Context) error) func(*cobra.Command, []string) error {
		return func(c *cobra.Command, _ []string) error {
			if o.output != "json" && o.output != "text" {
				return usageError{fmt.Errorf("--output %q: want json or text", o.output)}
			}
			return f(c.Context())
		}
	}

	initCmd := &cobra.Command{Use: "init", Short: "Initialize a new server: make the root key, split it into unseal shares, create the root credentials", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context) error {
			rs, err := loadRecipients()
			if err != nil {
				return err
			}
			body := map[string]any{"key_shares": shares, "key_threshold": threshold, "age_recipients": rs}
			switch initSeal {
			case "", "shamir":
				if initSeal != "" {
					body["seal"] = initSeal
				}
			case "pkcs11", "awskms":
				// The server's seal wraps the root key (and, for pkcs11,
				// creates its HSM key if absent): no shares.
				body = map[string]any{"seal": initSeal}
			default:
				return usageError{fmt.Errorf("--seal %q: want shamir, pkcs11 or awskms", initSeal)}
			}
			var out struct {
				UnsealShares        []string `json:"unseal_shares"`
				Threshold           int      `json:"threshold"`
				RootAccessKeyID     string   `json:"root_access_key_id"`
				RootSecretAccessKey string   `json:"root_secret_access_key"`
			}
			if err := o.call(ctx, http.MethodPost, "init", body, false, &out); err != nil {
				return err
			}
			if o.output == "json" {
				return json.NewEncoder(o.stdout).Encode(out)
			}
			for i, s := range out.UnsealShares {
				if strings.Contains(s, "\n") {
					fmt.Fprintf(o.stdout, "Unseal share %d (encrypted to %s):\n%s\n", i+1, rs[i], s)
				} else {
					fmt.Fprintf(o.stdout, "Unseal share %d: %s\n", i+1, s)
				}
			}
			fmt.Fprintf(o.stdout, "\nRoot access key ID:     %s\nRoot secret access key: %s\n\n", out.RootAccessKeyID, out.RootSecretAccessKey)
			if len(out.UnsealShares) > 0 {
				fmt.Fprintf(o.stdout, "Arca is initialized and unsealed, with %d unseal shares and a threshold of %d.\n"+
					"These shares and the root secret are shown only now and are not stored anywhere: give each share to a\n"+
					"different person. After every restart, %d of them must run `arca operator unseal`.\n", len(out.UnsealShares), out.Threshold, out.Threshold)
			} else {
				fmt.Fprintln(o.stdout, "Arca is initialized and unsealed; its seal unseals it automatically at start.")
			}
			return nil
		})}
	splitFlags(initCmd)
	initCmd.Flags().StringVar(&initSeal, "seal", "", "the seal the server is configured with: shamir (shares), or pkcs11/awskms (auto-unseal, no shares); checked against the server")

	unsealCmd := &cobra.Command{Use: "unseal [SHARE]", Short: "Give one unseal share (read from stdin when not an argument)", Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return run(func(ctx context.Context) error {
				body := map[string]any{"reset": reset}
				if !reset {
					// No share at all (empty stdin) asks an auto-unseal
					// server to unseal through its seal again.
					share, err := o.readShare(args)
					if err != nil && len(args) == 0 {
						share, err = "", nil
					}
					if err != nil {
						return err
					}
					if share != "" {
						body["key"] = share
					}
				}
				return o.status(ctx, http.MethodPost, "unseal", body, false)
			})(c, nil)
		}}
	unsealCmd.Flags().BoolVar(&reset, "reset", false, "forget the shares given so far")

	statusCmd := &cobra.Command{Use: "status", Short: "Show whether the server is initialized and sealed, and the unseal progress (exit status 2 when sealed)", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context) error {
			err := o.status(ctx, http.MethodGet, "status", nil, false)
			return err
		})}
	sealCmd := &cobra.Command{Use: "seal", Short: "Seal the server: wipe the root key and every unwrapped key from its memory (root credentials)", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context) error {
			err := o.status(ctx, http.MethodPost, "seal", struct{}{}, true)
			if errors.Is(err, errSealedStatus) {
				return nil // sealed is what was asked for
			}
			return err
		})}
	rotateCmd := &cobra.Command{Use: "rotate-root", Short: "Rotate the barrier key: new writes use it, existing records are re-encrypted in the background (root credentials)", Args: cobra.NoArgs,
		RunE: run(func(ctx context.Context) error {
			var out struct {
				Term uint32 `json:"term"`
			}
			if err := o.call(ctx, http.MethodPost, "rotate-root", struct{}{}, true, &out); err != nil {
				return err
			}
			if o.output == "json" {
				return json.NewEncoder(o.stdout).Encode(out)
			}
			fmt.Fprintf(o.stdout, "Rotated: new writes are sealed under keyring term %d; older records are being re-encrypted in the background (see `arca operator status`).\n", out.Term)
			return nil
		})}
	rekeyCmd := &cobra.Command{Use: "rekey [SHARE]", Short: "Replace the unseal shares (new N/K): start with --key-shares/--key-threshold (root credentials), then each holder of a current share runs it with --nonce",
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return run(func(ctx context.Context) error {
				var out struct {
					Nonce        string   `json:"nonce"`
					Progress     int      `json:"progress"`
					Threshold    int      `json:"threshold"`
					NewShares    int      `json:"new_shares"`
					NewThreshold int      `json:"new_threshold"`
					Complete     bool     `json:"complete"`
					UnsealShares []string `json:"unseal_shares,omitempty"`
				}
				switch {
				case cancel:
					return o.status(ctx, http.MethodPost, "rekey/cancel", struct{}{}, true)
				case nonce == "":
					if !c.Flags().Changed("key-shares") || !c.Flags().Changed("key-threshold") {
						return usageError{errors.New("start a rekey with --key-shares and --key-threshold, or give a share with --nonce")}
					}
					rs, err := loadRecipients()
					if err != nil {
						return err
					}
					if err := o.call(ctx, http.MethodPost, "rekey/init", map[string]any{"key_shares": shares, "key_threshold": threshold, "age_recipients": rs}, true, &out); err != nil {
						return err
					}
				default:
					share, err := o.readShare(args)
					if err != nil {
						return err
					}
					if err := o.call(ctx, http.MethodPost, "rekey/update", map[string]any{"nonce": nonce, "key": share}, false, &out); err != nil {
						return err
					}
				}
				if o.output == "json" {
					return json.NewEncoder(o.stdout).Encode(out)
				}
				if out.Complete {
					for i, s := range out.UnsealShares {
						fmt.Fprintf(o.stdout, "New unseal share %d: %s\n", i+1, s)
					}
					fmt.Fprintf(o.stdout, "\nRekeyed: %d new shares, threshold %d. The old shares no longer work.\n", out.NewShares, out.NewThreshold)
					return nil
				}
				fmt.Fprintf(o.stdout, "Rekey nonce: %s\nRekey progress: %d of %d current shares (new split: %d shares, threshold %d)\n",
					out.Nonce, out.Progress, out.Threshold, out.NewShares, out.NewThreshold)
				return nil
			})(c, nil)
		}}
	splitFlags(rekeyCmd)
	rekeyCmd.Flags().StringVar(&nonce, "nonce", "", "the rekey in progress (printed when it was started)")
	rekeyCmd.Flags().BoolVar(&cancel, "cancel", false, "cancel the rekey in progress (root credentials)")

	migrateCmd := &cobra.Command{Use: "migrate-seal [SHARE]", Short: "Finish a seal migration to shamir: issue the new shares with --key-shares/--key-threshold (root credentials), then holders give the threshold of them back with --nonce",
		Long: `Migrations between auto-unseal seals, and from shamir, happen at server start with --seal-migrate.
A migration to shamir needs new unseal shares to reach their holders before the root key depends on
them: start the server with seal: shamir and --seal-migrate (it unseals with the old seal), run
migrate-seal --key-shares N --key-threshold K to issue the shares, then K holders each run
migrate-seal --nonce NONCE with their share. The switch happens, in one transaction, on the last one.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return run(func(ctx context.Context) error {
				var out struct {
					Nonce        string   `json:"nonce"`
					UnsealShares []string `json:"unseal_shares,omitempty"`
					Threshold    int      `json:"threshold"`
					Progress     int      `json:"progress"`
					Complete     bool     `json:"complete"`
				}
				if nonce == "" {
					if !c.Flags().Changed("key-shares") || !c.Flags().Changed("key-threshold") {
						return usageError{errors.New("issue the new shares with --key-shares and --key-threshold, or give one back with --nonce")}
					}
					rs, err := loadRecipients()
					if err != nil {
						return err
					}
					if err := o.call(ctx, http.MethodPost, "migrate-seal/init", map[string]any{"key_shares": shares, "key_threshold": threshold, "age_recipients": rs}, true, &out); err != nil {
						return err
					}
				} else {
					share, err := o.readShare(args)
					if err != nil {
						return err
					}
					if err := o.call(ctx, http.MethodPost, "migrate-seal/update", map[string]any{"nonce": nonce, "key": share}, false, &out); err != nil {
						return err
					}
				}
				if o.output == "json" {
					return json.NewEncoder(o.stdout).Encode(out)
				}
				switch {
				case len(out.UnsealShares) > 0:
					for i, s := range out.UnsealShares {
						fmt.Fprintf(o.stdout, "New unseal share %d: %s\n", i+1, s)
					}
					fmt.Fprintf(o.stdout, "\nMigration nonce: %s\nNothing has changed yet: give each share to its holder; the seal switches to shamir when %d of them\n"+
						"have been given back with `arca operator migrate-seal --nonce %s`.\n", out.Nonce, out.Threshold, out.Nonce)
				case out.Complete:
					fmt.Fprintln(o.stdout, "Migrated: the root key is now wrapped by the shamir seal. Restart without --seal-migrate and unseal with the new shares.")
				default:
					fmt.Fprintf(o.stdout, "Migration progress: %d of %d new shares given back\n", out.Progress, out.Threshold)
				}
				return nil
			})(c, nil)
		}}
	splitFlags(migrateCmd)
	migrateCmd.Flags().StringVar(&nonce, "nonce", "", "the migration in progress (printed when the shares were issued)")

	backupCmd := &cobra.Command{Use: "backup FILE", Short: "Write an encrypted snapshot of the server's storage to FILE (root credentials)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return run(func(ctx context.Context) error {
				return o.backup(ctx, args[0])
			})(c, nil)
		}}
	restoreCmd := &cobra.Command{Use: "restore FILE", Short: "Restore a snapshot into new, empty storage: a bolt data dir or a PostgreSQL database (offline: no server running on it)", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return run(func(ctx context.Context) error {
				cfg, err := restoreConfig(c, dataDir)
				if err != nil {
					return usageError{err}
				}
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				n, err := server.Restore(ctx, cfg, f)
				if err != nil {
					return err
				}
				where := cfg.DataDir
				if cfg.Storage == "postgres" {
					where = "the PostgreSQL database"
				}
				if o.output == "json" {
					return json.NewEncoder(o.stdout).Encode(map[string]any{"records": n, "storage": cfg.Storage, "data_dir": dataDir})
				}
				fmt.Fprintf(o.stdout, "Restored %d records into %s. Start the server on it and unseal it with the shares that were current when the backup was taken.\n", n, where)
				return nil
			})(c, nil)
		}}
	restoreCmd.Flags().StringVar(&dataDir, "data-dir", "", "the new data dir to restore into (bolt storage)")
	restoreCmd.Flags().String("storage", "", "storage to restore into: bolt or postgres (env ARCA_STORAGE; postgres takes its DSN from ARCA_POSTGRES_DSN or the config file)")
	restoreCmd.Flags().String("config", "", "the server's YAML configuration file, for its storage settings (env ARCA_CONFIG)")

	cmd.AddCommand(initCmd, unsealCmd, statusCmd, sealCmd, rotateCmd, rekeyCmd, migrateCmd, backupCmd, restoreCmd)
	return cmd
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// readShare takes the share from the argument, or one line of stdin.
func (o *operatorOpts) readShare(args []string) (string, error) {
	if len(args) == 1 && args[0] != "-" {
		return args[0], nil
	}
	line, err := bufio.NewReader(o.stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", usageError{errors.New("give the share as an argument or on standard input")}
	}
	return strings.TrimSpace(line), nil
}

// status calls an endpoint answering the seal status and prints it.
func (o *operatorOpts) status(ctx context.Context, method, op string, body any, signed bool) error {
	var st struct {
		Initialized  bool   `json:"initialized"`
		Sealed       bool   `json:"sealed"`
		Type         string `json:"type,omitempty"`
		Progress     int    `json:"progress"`
		Threshold    int    `json:"threshold"`
		Shares       int    `json:"shares"`
		Version      string `json:"version"`
		ActiveTerm   uint32 `json:"active_term,omitempty"`
		Terms        int    `json:"terms,omitempty"`
		Reencrypting bool   `json:"reencrypting,omitempty"`
		RekeyNonce   string `json:"rekey_nonce,omitempty"`
	}
	if err := o.call(ctx, method, op, body, signed, &st); err != nil {
		return err
	}
	if o.output == "json" {
		if err := json.NewEncoder(o.stdout).Encode(st); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(o.stdout, "Initialized:     %t\nSealed:          %t\n", st.Initialized, st.Sealed)
		if st.Type != "" {
			fmt.Fprintf(o.stdout, "Seal type:       %s\n", st.Type)
		}
		if st.Type == "shamir" {
			fmt.Fprintf(o.stdout, "Shares:          %d\nThreshold:       %d\n", st.Shares, st.Threshold)
			if st.Sealed {
				fmt.Fprintf(o.stdout, "Unseal progress: %d of %d\n", st.Progress, st.Threshold)
			}
		}
		if !st.Sealed && st.ActiveTerm > 0 {
			fmt.Fprintf(o.stdout, "Keyring term:    %d (%d held", st.ActiveTerm, st.Terms)
			if st.Reencrypting {
				fmt.Fprint(o.stdout, ", re-encrypting")
			}
			fmt.Fprintln(o.stdout, ")")
		}
		if st.RekeyNonce != "" {
			fmt.Fprintf(o.stdout, "Rekey nonce:     %s\n", st.RekeyNonce)
		}
		fmt.Fprintf(o.stdout, "Version:         %s\n", st.Version)
	}
	if st.Sealed && op == "status" {
		return errSealedStatus
	}
	return nil
}

// backup streams GET backup into FILE (created 0600, written to a
// temporary name and renamed once complete).
func (o *operatorOpts) backup(ctx context.Context, file string) error {
	resp, err := o.do(ctx, http.MethodGet, "backup", nil, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readOpError(resp)
	}
	tmp := file + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, file)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	if o.output == "json" {
		return json.NewEncoder(o.stdout).Encode(map[string]any{"file": file, "bytes": n})
	}
	fmt.Fprintf(o.stdout, "Wrote %d bytes to %s. It is encrypted: restoring it needs the unseal shares current at restore time.\n", n, file)
	return nil
}

// call sends a JSON request to the operator endpoint op and decodes the
// JSON answer into out.
func (o *operatorOpts) call(ctx context.Context, method, op string, body any, signed bool, out any) error {
	resp, err := o.do(ctx, method, op, body, signed)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readOpError(resp)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
}

func readOpError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &e) == nil && e.Type != "" {
		return fmt.Errorf("%s: %s", e.Type, e.Message)
	}
	return fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
}

func (o *operatorOpts) do(ctx context.Context, method, op string, body any, signed bool) (*http.Response, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	u := strings.TrimRight(o.address, "/") + server.OperatorPathPrefix + op
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if signed {
		akid, secret := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
		if akid == "" || secret == "" {
			return nil, errors.New("this command needs the root credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
		sum := sha256.Sum256(raw)
		if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "arca", "us-east-1", time.Now()); err != nil {
			return nil, err
		}
	}
	hc, err := o.httpClient()
	if err != nil {
		return nil, err
	}
	return hc.Do(req)
}

// httpClient trusts --ca-cert, or pins --tls-fingerprint, or else the
// system roots. Go's client offers X25519MLKEM768 by default.
func (o *operatorOpts) httpClient() (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caCert != "" {
		pem, err := os.ReadFile(o.caCert)
		if err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-cert %s: no PEM certificate in it", o.caCert)
		}
		tc.RootCAs = pool
	}
	if fp := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(o.fingerprint), ":", "")); fp != "" {
		want, err := hex.DecodeString(fp)
		if err != nil || len(want) != sha256.Size {
			return nil, errors.New("--tls-fingerprint: want the 64 hex digits of the certificate's SHA-256")
		}
		// The pin replaces chain and name checks: the leaf must be exactly
		// the certificate whose fingerprint the operator has.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return errors.New("the server sent no certificate")
			}
			got := sha256.Sum256(rawCerts[0])
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("the server's certificate fingerprint %x does not match --tls-fingerprint", got)
			}
			return nil
		}
	}
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}, nil
}

// restoreConfig is the storage a restore writes into, read as the server
// reads its settings (flags, ARCA_* variables, the config file): bolt needs
// --data-dir given explicitly, postgres a DSN from ARCA_POSTGRES_DSN or the
// file.
func restoreConfig(c *cobra.Command, dataDir string) (config.Config, error) {
	fs := pflag.NewFlagSet("restore", pflag.ContinueOnError)
	config.RegisterFlags(fs)
	for _, name := range []string{"storage", "config"} {
		if f := c.Flags().Lookup(name); f != nil && f.Changed {
			if err := fs.Set(name, f.Value.String()); err != nil {
				return config.Config{}, err
			}
		}
	}
	if dataDir != "" {
		if err := fs.Set("data-dir", dataDir); err != nil {
			return config.Config{}, err
		}
	}
	cfg, err := config.Load(fs, os.Getenv)
	if err != nil {
		return cfg, err
	}
	if cfg.Storage != "postgres" && dataDir == "" {
		return cfg, errors.New("--data-dir is required (or --storage postgres)")
	}
	return cfg, nil
}
