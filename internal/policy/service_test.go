package policy

import "testing"

// TestDecideService walks IAM's standard evaluation as DecideService
// applies it to resources with an optional resource policy (Secrets
// Manager's secrets).
func TestDecideService(t *testing.T) {
	t.Parallel()
	const acct, other = "111122223333", "444455556666"
	parse := func(doc string, kind Kind) *Policy {
		if doc == "" {
			return nil
		}
		return mustParse(t, []byte(doc), kind)
	}
	stmt := func(effect, principal string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"` + effect + `","Principal":` + principal + `,"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	}
	allowID := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}`
	denyID := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"secretsmanager:GetSecretValue","Resource":"*"}]}`
	otherAction := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"secretsmanager:DescribeSecret","Resource":"*"}]}`
	alice := Principal{Type: TypeUser, Account: acct, ARN: "arn:aws:iam::" + acct + ":user/alice"}
	root := Principal{Type: TypeAccount, Account: acct, ARN: "arn:aws:iam::" + acct + ":root"}
	otherRoot := Principal{Type: TypeAccount, Account: other, ARN: "arn:aws:iam::" + other + ":root"}
	otherBob := Principal{Type: TypeUser, Account: other, ARN: "arn:aws:iam::" + other + ":user/bob"}
	session := Principal{Type: TypeAssumedRole, Account: acct, ARN: "arn:aws:sts::" + acct + ":assumed-role/app/s1",
		SourceARN: "arn:aws:iam::" + acct + ":role/app"}
	tests := []struct {
		name              string
		p                 Principal
		resource, session string
		identity          []string
		allowed, explicit bool
		policy            PolicyType
	}{
		{name: "root, no resource policy", p: root, allowed: true, policy: IdentityPolicy},
		{name: "root, resource policy denies", p: root, resource: stmt("Deny", `"*"`), explicit: true, policy: ResourcePolicy},
		{name: "user, nothing", p: alice, policy: IdentityPolicy},
		{name: "user, identity allows", p: alice, identity: []string{allowID}, allowed: true, policy: IdentityPolicy},
		{name: "user, identity allows another action", p: alice, identity: []string{otherAction}, policy: IdentityPolicy},
		{name: "user, resource policy names the user", p: alice, resource: stmt("Allow", `{"AWS":"arn:aws:iam::`+acct+`:user/alice"}`), allowed: true, policy: ResourcePolicy},
		{name: "user, resource policy names the account: delegates", p: alice, resource: stmt("Allow", `{"AWS":"`+acct+`"}`), policy: IdentityPolicy},
		{name: "user, resource policy names the account, identity allows", p: alice, resource: stmt("Allow", `{"AWS":"`+acct+`"}`), identity: []string{allowID}, allowed: true, policy: IdentityPolicy},
		{name: "user, identity deny beats resource allow", p: alice, resource: stmt("Allow", `"*"`), identity: []string{denyID}, explicit: true, policy: IdentityPolicy},
		{name: "user, resource deny beats identity allow", p: alice, resource: stmt("Deny", `{"AWS":"arn:aws:iam::`+acct+`:user/alice"}`), identity: []string{allowID}, explicit: true, policy: ResourcePolicy},
		{name: "other account root, no resource policy", p: otherRoot, policy: ResourcePolicy},
		{name: "other account root, resource policy names it", p: otherRoot, resource: stmt("Allow", `{"AWS":"`+other+`"}`), allowed: true, policy: IdentityPolicy},
		{name: "other account user, resource policy only", p: otherBob, resource: stmt("Allow", `{"AWS":"`+other+`"}`), policy: IdentityPolicy},
		{name: "other account user, both sides", p: otherBob, resource: stmt("Allow", `{"AWS":"`+other+`"}`), identity: []string{allowID}, allowed: true, policy: IdentityPolicy},
		{name: "other account user, identity only", p: otherBob, identity: []string{allowID}, policy: ResourcePolicy},
		{name: "role session, resource names the role, session policy narrows", p: session, resource: stmt("Allow", `{"AWS":"arn:aws:iam::`+acct+`:role/app"}`),
			session: otherAction, policy: IdentityPolicy},
		{name: "role session, resource names the role", p: session, resource: stmt("Allow", `{"AWS":"arn:aws:iam::`+acct+`:role/app"}`), allowed: true, policy: ResourcePolicy},
		{name: "role session, identity allows, session policy does not", p: session, identity: []string{allowID}, session: otherAction, policy: SessionPolicyType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := Inputs{
				Request:       Request{Action: "secretsmanager:GetSecretValue", Resource: "arn:aws:secretsmanager:us-east-1:" + acct + ":secret:s-abcdef", Principal: tc.p, Context: &Context{}},
				KeyPolicy:     parse(tc.resource, KindResource),
				SessionPolicy: parse(tc.session, KindSession),
				KeyAccount:    acct,
			}
			for _, d := range tc.identity {
				in.IdentityPolicies = append(in.IdentityPolicies, parse(d, KindIdentity))
			}
			d := DecideService(in)
			if d.Allowed != tc.allowed || d.ExplicitDeny != tc.explicit || d.Policy != tc.policy {
				t.Fatalf("DecideService = %+v; want allowed %v, explicit %v, policy %v", d, tc.allowed, tc.explicit, tc.policy)
			}
		})
	}
}
