package internal_test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/arca-kms/arca/"

// allowed lists, for each package, the only Arca packages it may import, and
// why. Data flows one way: transport → service → keystore/crypto → barrier →
// storage. A package missing from this table fails the test, so every new
// package states its place.
var allowed = map[string]struct {
	imports []string
	why     string
}{
	"internal/arn":       {nil, "pure ARN parsing, used by everyone"},
	"internal/auth":      {nil, "the caller type, used by every layer"},
	"internal/epoch":     {nil, "a wire time type, used by services"},
	"internal/svcerr":    {nil, "typed errors, used by every layer"},
	"internal/config":    {nil, "config is plain data handed to the server"},
	"internal/kmscrypto": {nil, "crypto is pure: keys in, bytes out"},
	"internal/policy":    {[]string{"internal/arn", "internal/auth"}, "policy evaluation is pure: documents and request facts (the caller among them) in, decisions out"},
	"internal/memguard":  {nil, "process hardening knows only the operating system"},
	"internal/oidc":      {nil, "token verification knows only the standard library and go-jose; STS maps its errors"},
	"internal/storage":   {nil, "the storage contract sees only sealed bytes"},

	"internal/storage/memory":      {[]string{"internal/storage"}, "a backend knows only the contract"},
	"internal/storage/bolt":        {[]string{"internal/storage"}, "a backend knows only the contract"},
	"internal/storage/postgres":    {[]string{"internal/storage"}, "a backend knows only the contract"},
	"internal/storage/storagetest": {[]string{"internal/storage"}, "the conformance suite tests the contract"},
	"internal/barrier":             {[]string{"internal/storage"}, "the barrier sits directly on storage"},
	"internal/barrier/seal/dev":    {[]string{"internal/barrier"}, "a seal implements the barrier's Wrapper"},
	"internal/barrier/seal":        {[]string{"internal/storage"}, "the seal-config record, read through the barrier while sealed"},
	"internal/barrier/seal/shamir": {[]string{"internal/barrier"}, "a seal implements the barrier's Wrapper"},
	"internal/backup":              {[]string{"internal/storage"}, "snapshots copy storage as stored, still sealed"},
	"internal/barrier/seal/pkcs11": {[]string{"internal/barrier"}, "a seal implements the barrier's Wrapper"},
	"internal/barrier/seal/awskms": {[]string{"internal/barrier"}, "a seal implements the barrier's Wrapper"},

	"internal/keystore":   {[]string{"internal/storage", "internal/kmscrypto"}, "keys over the barrier (consumed through the storage contract)"},
	"internal/iam":        {[]string{"internal/auth", "internal/policy", "internal/storage", "internal/svcerr"}, "identities over the barrier"},
	"internal/sigv4":      {[]string{"internal/svcerr"}, "signature checks know nothing of services"},
	"internal/audit":      {nil, "the audit log is verified offline by itself; it imports nothing of Arca's"},
	"internal/audit/sink": {[]string{"internal/audit"}, "sinks read the audit log and send copies out; they know nothing else"},
	"internal/sts":        {[]string{"internal/auth", "internal/policy", "internal/storage", "internal/svcerr"}, "sessions over the barrier; roles come through an interface"},
	"internal/auditkey":   {[]string{"internal/audit", "internal/storage"}, "the audit signing keys live under the barrier (through the storage contract)"},
	"internal/trail": {[]string{"internal/audit", "internal/auth", "internal/epoch", "internal/policy", "internal/svcerr"},
		"CloudTrail lookups read the audit index; services never touch HTTP or storage"},
	"internal/transport/auditrec": {[]string{"internal/audit", "internal/auth", "internal/transport/httpreq"}, "turns a request into an audit event; the log itself is handed in by the server"},
	"internal/kms": {[]string{"internal/arn", "internal/auth", "internal/epoch", "internal/keystore", "internal/kmscrypto", "internal/policy", "internal/svcerr"},
		"services never touch HTTP, transports, storage backends or seals"},
	"internal/iamsvc": {[]string{"internal/auth", "internal/iam", "internal/policy", "internal/svcerr"},
		"services never touch HTTP, transports, storage backends or seals"},
	"internal/transport/httpreq": {[]string{"internal/auth", "internal/sigv4"}, "request plumbing every transport shares; it knows no service"},
	"internal/transport/awsquery": {[]string{"internal/audit", "internal/auth", "internal/iamsvc", "internal/sigv4", "internal/sts", "internal/svcerr", "internal/transport/auditrec", "internal/transport/httpreq"},
		"transports call services and never touch storage, keys or crypto"},
	"internal/secrets": {[]string{"internal/auth", "internal/epoch", "internal/policy", "internal/secrets/rotator", "internal/secrets/schedule", "internal/storage", "internal/svcerr"},
		"services never touch HTTP, transports, storage backends or seals; KMS is reached through an interface"},
	"internal/posture": {[]string{"internal/auth", "internal/policy", "internal/svcerr"},
		"posture rules are pure evaluation over interfaces it defines; the server adapts the stores"},
	"internal/transport/awsjson": {[]string{"internal/audit", "internal/auth", "internal/kms", "internal/posture", "internal/secrets", "internal/sigv4", "internal/svcerr", "internal/trail", "internal/transport/auditrec", "internal/transport/httpreq"},
		"transports call services and never touch storage, keys or crypto"},
	"internal/lease":            {[]string{"internal/storage"}, "leases live in storage"},
	"internal/secrets/rotator":  {nil, "the rotation contract and built-in rotators talk to databases and webhooks, never to Arca's services"},
	"internal/secrets/schedule": {nil, "schedule expressions are pure parsing and time arithmetic"},
	"internal/testdb":           {nil, "a test harness for real database servers; it imports nothing of Arca's"},
	"internal/loadgen":          {[]string{"internal/sigv4"}, "the load tool only signs requests"},
	"internal/server":           {[]string{"*"}, "the one place that wires concrete parts together"},
	"internal/cli":              {[]string{"internal/config", "internal/server", "internal/loadgen", "internal/policy", "internal/audit", "internal/auditkey"}, "commands parse flags and hand over"},
	"cmd/arca":                  {[]string{"internal/cli"}, "main stays tiny"},
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, mod+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], mod)
		if strings.HasPrefix(pkg, "test/") || pkg == "internal" {
			continue // black-box tests, and this test's own package, may import anything
		}
		rule, ok := allowed[pkg]
		if !ok {
			t.Errorf("%s is not in the dependency table in internal/deps_test.go: add it with its allowed imports and why", pkg)
			continue
		}
		for _, imp := range fields[1:] {
			dep, ours := strings.CutPrefix(imp, mod)
			if !ours || permitted(rule.imports, dep) {
				continue
			}
			t.Errorf("%s imports %s, which it must not: %s", pkg, dep, rule.why)
		}
	}
}

func permitted(list []string, dep string) bool {
	for _, a := range list {
		if a == "*" || a == dep {
			return true
		}
	}
	return false
}

// thirdParty limits the non-standard-library imports of packages whose
// trustworthiness rests on a small dependency surface.
var thirdParty = map[string][]string{
	"internal/oidc": {"github.com/go-jose/go-jose/v4"},
}

func TestThirdPartyImports(t *testing.T) {
	for pkg, allowedPrefixes := range thirdParty {
		out, err := exec.Command("go", "list", "-f", `{{range .Imports}}{{.}} {{end}}`, mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			first, _, _ := strings.Cut(imp, "/")
			if !strings.Contains(first, ".") || strings.HasPrefix(imp, mod) {
				continue // standard library, or checked by TestImportDirection
			}
			ok := false
			for _, p := range allowedPrefixes {
				ok = ok || imp == p || strings.HasPrefix(imp, p+"/")
			}
			if !ok {
				t.Errorf("%s imports %s; it may only use the standard library and %v", pkg, imp, allowedPrefixes)
			}
		}
	}
}
