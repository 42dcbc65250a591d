package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
)

// iamOpts are the settings every `arca iam` command shares.
type iamOpts struct {
	endpoint string
	region   string
	output   string
	stdout   io.Writer
}

// iamCmd is `arca iam`: manage identities on a running server with the
// credentials in the usual AWS environment variables. Requests go over the
// IAM API (aws-sdk-go-v2's IAM client), and Arca's account administration
// over its Arca* Query actions, signed the same way.
func iamCmd(stdout io.Writer) *cobra.Command {
	o := &iamOpts{stdout: stdout}
	cmd := &cobra.Command{
		Use:   "iam",
		Short: "Manage users, access keys, roles, policies and accounts on a running Arca server",
		Long: `Manage identities on a running Arca server through its IAM API.

The server is --endpoint (default $ARCA_ADDR, else http://127.0.0.1:4599).
Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and, for
temporary credentials, AWS_SESSION_TOKEN. The account commands need the
deployment operator's credentials: the root user of the default account.`,
	}
	def := os.Getenv("ARCA_ADDR")
	if def == "" {
		def = "http://127.0.0.1:4599"
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.endpoint, "endpoint", def, "server URL (default $ARCA_ADDR)")
	pf.StringVar(&o.region, "region", "us-east-1", "signing region (the SDKs sign IAM with us-east-1)")
	pf.StringVarP(&o.output, "output", "o", "json", "output format: json or text")

	var name, path, keyID, policyName, document, description, accountID string
	var tags []string
	var maxSession int32
	need := func(flag, v string) error {
		if v == "" {
			return usageError{fmt.Errorf("--%s is required", flag)}
		}
		return nil
	}
	sub := func(use, short string, flags func(c *cobra.Command), run func(ctx context.Context, c *iam.Client) (any, error)) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: func(cmd *cobra.Command, _ []string) error {
			if o.output != "json" && o.output != "text" {
				return usageError{fmt.Errorf("--output %q: want json or text", o.output)}
			}
			client, err := o.client()
			if err != nil {
				return err
			}
			out, err := run(cmd.Context(), client)
			if err != nil {
				return apiError(err)
			}
			return o.print(out)
		}}
		flags(c)
		return c
	}
	userFlag := func(c *cobra.Command) { c.Flags().StringVar(&name, "user-name", "", "the IAM user") }
	roleFlag := func(c *cobra.Command) { c.Flags().StringVar(&name, "role-name", "", "the role") }
	docFlags := func(c *cobra.Command) {
		c.Flags().StringVar(&policyName, "policy-name", "", "the inline policy's name")
		c.Flags().StringVar(&document, "policy-document", "", "the policy document: JSON, or file://PATH")
	}

	cmd.AddCommand(
		sub("create-user", "Create an IAM user", func(c *cobra.Command) {
			userFlag(c)
			c.Flags().StringVar(&path, "path", "", "the user's path (default /)")
			c.Flags().StringArrayVar(&tags, "tag", nil, "a tag KEY=VALUE (repeatable)")
		}, func(ctx context.Context, c *iam.Client) (any, error) {
			if err := need("user-name", name); err != nil {
				return nil, err
			}
			in := &iam.CreateUserInput{UserName: aws.String(name)}
			if path != "" {
				in.Path = aws.String(path)
			}
			for _, t := range tags {
				k, v, _ := strings.Cut(t, "=")
				in.Tags = append(in.Tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
			}
			out, err := c.CreateUser(ctx, in)
			if err != nil {
				return nil, err
			}
			return map[string]any{"User": userJSON(out.User)}, nil
		}),
		sub("delete-user", "Delete an IAM user (it must have no access keys or policies)", userFlag,
			func(ctx context.Context, c *iam.Client) (any, error) {
				if err := need("user-name", name); err != nil {
					return nil, err
				}
				_, err := c.DeleteUser(ctx, &iam.DeleteUserInput{UserName: aws.String(name)})
				return nil, err
			}),
		sub("list-users", "List the account's IAM users", func(c *cobra.Command) {
			c.Flags().StringVar(&path, "path-prefix", "", "only users whose path starts with this")
		}, func(ctx context.Context, c *iam.Client) (any, error) {
			in := &iam.ListUsersInput{}
			if path != "" {
				in.PathPrefix = aws.String(path)
			}
			users := []map[string]any{}
			for p := iam.NewListUsersPaginator(c, in); p.HasMorePages(); {
				out, err := p.NextPage(ctx)
				if err != nil {
					return nil, err
				}
				for i := range out.Users {
					users = append(users, userJSON(&out.Users[i]))
				}
			}
			return map[string]any{"Users": users}, nil
		}),
		sub("create-access-key", "Create an access key for a user; its secret is shown only now", userFlag,
			func(ctx context.Context, c *iam.Client) (any, error) {
				in := &iam.CreateAccessKeyInput{}
				if name != "" {
					in.UserName = aws.String(name)
				}
				out, err := c.CreateAccessKey(ctx, in)
				if err != nil {
					return nil, err
				}
				k := out.AccessKey
				return map[string]any{"AccessKey": map[string]any{"UserName": aws.ToString(k.UserName),
					"AccessKeyId": aws.ToString(k.AccessKeyId), "SecretAccessKey": aws.ToString(k.SecretAccessKey),
					"Status": string(k.Status), "CreateDate": k.CreateDate}}, nil
			}),
		sub("delete-access-key", "Delete a user's access key", func(c *cobra.Command) {
			userFlag(c)
			c.Flags().StringVar(&keyID, "access-key-id", "", "the access key")
		}, func(ctx context.Context, c *iam.Client) (any, error) {
			if err := need("access-key-id", keyID); err != nil {
				return nil, err
			}
			in := &iam.DeleteAccessKeyInput{AccessKeyId: aws.String(keyID)}
			if name != "" {
				in.UserName = aws.String(name)
			}
			_, err := c.DeleteAccessKey(ctx, in)
			return nil, err
		}),
		sub("put-user-policy", "Add or replace an inline policy of a user", func(c *cobra.Command) {
			userFlag(c)
			docFlags(c)
		}, func(ctx context.Context, c *iam.Client) (any, error) {
			d, err := readDocument(name, "user-name", policyName, document)
			if err != nil {
				return nil, err
			}
			_, err = c.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String(name), PolicyName: aws.String(policyName), PolicyDocument: aws.String(d)})
			return nil, err
		}),
		sub("create-role", "Create a role", func(c *cobra.Command) {
			roleFlag(c)
			c.Flags().StringVar(&path, "path", "", "the role's path (default /)")
			c.Flags().StringVar(&document, "assume-role-policy-document", "", "the trust policy: JSON, or file://PATH")
			c.Flags().StringVar(&description, "description", "", "a description")
			c.Flags().Int32Var(&maxSession, "max-session-duration", 0, "the longest session in seconds, 3600-43200 (default 3600)")
		}, func(ctx context.Context, c *iam.Client) (any, error) {
			d, err := readDocument(name, "role-name", "-", document)
			if err != nil {
				return nil, err
			}
			in := &iam.CreateRoleInput{RoleName: aws.String(name), AssumeRolePolicyDocument: aws.String(d)}
			if path != "" {
				in.Path = aws.String(path)
			}
			if description != "" {
				in.Description = aws.String(description)
			}
			if maxSession != 0 {
				in.MaxSessionDuration = aws.Int32(maxSession)
			}
			out, err := c.CreateRole(ctx, in)
			if err != nil {
				return nil, err
			}
			r := out.Role
			trust, _ := url.QueryUnescape(aws.ToString(r.AssumeRolePolicyDocument))
			return map[string]any{"Role": map[string]any{"RoleName": aws.ToString(r.RoleName), "RoleId": aws.ToString(r.RoleId),
				"Arn": aws.ToString(r.Arn), "Path": aws.ToString(r.Path), "CreateDate": r.CreateDate,
				"MaxSessionDuration": aws.ToInt32(r.MaxSessionDuration), "AssumeRolePolicyDocument": json.RawMessage(trust)}}, nil
		}),
		sub("put-role-policy", "Add or replace an inline policy of a role", func(c *cobra.Command) {
			roleFlag(c)
			docFlags(c)
		}, func(ctx context.Context, c *iam.Client) (any, error) {
			d, err := readDocument(name, "role-name", policyName, document)
			if err != nil {
				return nil, err
			}
			_, err = c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(policyName), PolicyDocument: aws.String(d)})
			return nil, err
		}),
		sub("create-account", "Create an account and its root access key (operator only)", func(c *cobra.Command) {
			c.Flags().StringVar(&accountID, "account-id", "", "12 digits (default: random)")
		}, func(ctx context.Context, _ *iam.Client) (any, error) {
			p := url.Values{}
			if accountID != "" {
				p.Set("AccountId", accountID)
			}
			return o.arcaAction(ctx, "ArcaCreateAccount", p)
		}),
		sub("list-accounts", "List the accounts (operator only)", func(*cobra.Command) {},
			func(ctx context.Context, _ *iam.Client) (any, error) {
				var all []any
				marker := ""
				for {
					p := url.Values{}
					if marker != "" {
						p.Set("Marker", marker)
					}
					out, err := o.arcaAction(ctx, "ArcaListAccounts", p)
					if err != nil {
						return nil, err
					}
					m := out.(map[string]any)
					if as, ok := m["Accounts"].([]any); ok {
						all = append(all, as...)
					}
					next, _ := m["Marker"].(string)
					if m["IsTruncated"] != "true" || next == "" {
						break
					}
					marker = next
				}
				if all == nil {
					all = []any{}
				}
				return map[string]any{"Accounts": all}, nil
			}),
		sub("delete-account", "Delete an account without users or roles (operator only)", func(c *cobra.Command) {
			c.Flags().StringVar(&accountID, "account-id", "", "the account")
		}, func(ctx context.Context, _ *iam.Client) (any, error) {
			if err := need("account-id", accountID); err != nil {
				return nil, err
			}
			_, err := o.arcaAction(ctx, "ArcaDeleteAccount", url.Values{"AccountId": {accountID}})
			return nil, err
		}),
		sub("create-account-root-access-key", "Replace an account's root access key (operator only)", func(c *cobra.Command) {
			c.Flags().StringVar(&accountID, "account-id", "", "the account")
		}, func(ctx context.Context, _ *iam.Client) (any, error) {
			if err := need("account-id", accountID); err != nil {
				return nil, err
			}
			return o.arcaAction(ctx, "ArcaCreateAccountRootAccessKey", url.Values{"AccountId": {accountID}})
		}),
	)
	return cmd
}

// envCredentials reads the AWS environment variables, which every command
// that calls the server signs with.
func envCredentials() (aws.Credentials, error) {
	c := aws.Credentials{AccessKeyID: os.Getenv("AWS_ACCESS_KEY_ID"), SecretAccessKey: os.Getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: os.Getenv("AWS_SESSION_TOKEN")}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return c, usageError{errors.New("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")}
	}
	return c, nil
}

func (o *iamOpts) client() (*iam.Client, error) {
	c, err := envCredentials()
	if err != nil {
		return nil, err
	}
	cfg := aws.Config{Region: o.region, Credentials: credentials.StaticCredentialsProvider{Value: c}}
	return iam.NewFromConfig(cfg, func(opt *iam.Options) { opt.BaseEndpoint = aws.String(o.endpoint) }), nil
}

// arcaAction sends one of Arca's own Query actions, signed like any IAM
// request, and returns its Result element as a generic map.
func (o *iamOpts) arcaAction(ctx context.Context, action string, params url.Values) (any, error) {
	creds, err := envCredentials()
	if err != nil {
		return nil, err
	}
	params.Set("Action", action)
	params.Set("Version", "2010-05-08")
	body := []byte(params.Encode())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(o.endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "iam", o.region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	tree, err := parseXML(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %w", action, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		e, _ := tree["Error"].(map[string]any)
		code, _ := e["Code"].(string)
		msg, _ := e["Message"].(string)
		return nil, fmt.Errorf("%s: %s", code, msg)
	}
	res, _ := tree[action+"Result"].(map[string]any)
	return res, nil
}

// parseXML turns a Query response into nested maps: elements with <member>
// children become lists, leaves become strings.
func parseXML(raw []byte) (map[string]any, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	var parse func() (any, error)
	parse = func() (any, error) {
		var text strings.Builder
		var m map[string]any
		var list []any
		for {
			tok, err := d.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				v, err := parse()
				if err != nil {
					return nil, err
				}
				if t.Name.Local == "member" {
					list = append(list, v)
					continue
				}
				if m == nil {
					m = map[string]any{}
				}
				m[t.Name.Local] = v
			case xml.CharData:
				text.Write(t)
			case xml.EndElement:
				switch {
				case list != nil:
					return list, nil
				case m != nil:
					return m, nil
				}
				return strings.TrimSpace(text.String()), nil
			}
		}
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if _, ok := tok.(xml.StartElement); ok {
			v, err := parse()
			if err != nil {
				return nil, err
			}
			m, _ := v.(map[string]any)
			return m, nil
		}
	}
}

func userJSON(u *types.User) map[string]any {
	m := map[string]any{"UserName": aws.ToString(u.UserName), "UserId": aws.ToString(u.UserId),
		"Arn": aws.ToString(u.Arn), "Path": aws.ToString(u.Path), "CreateDate": u.CreateDate}
	if len(u.Tags) > 0 {
		tags := make([]map[string]string, len(u.Tags))
		for i, t := range u.Tags {
			tags[i] = map[string]string{"Key": aws.ToString(t.Key), "Value": aws.ToString(t.Value)}
		}
		m["Tags"] = tags
	}
	return m
}

// readDocument checks the flags of a command that sends a document and
// returns the document, read from a file for file://PATH.
func readDocument(name, nameFlag, policyName, doc string) (string, error) {
	if name == "" {
		return "", usageError{fmt.Errorf("--%s is required", nameFlag)}
	}
	if policyName == "" {
		return "", usageError{errors.New("--policy-name is required")}
	}
	if doc == "" {
		return "", usageError{errors.New("a policy document is required")}
	}
	if p, ok := strings.CutPrefix(doc, "file://"); ok {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return doc, nil
}

// print writes out as indented JSON, or as tab-separated leaf values in
// text mode. Commands without output print nothing, as the aws CLI does.
func (o *iamOpts) print(out any) error {
	if out == nil {
		return nil
	}
	if o.output == "text" {
		var lines []string
		textLines(out, "", &lines)
		_, err := fmt.Fprintln(o.stdout, strings.Join(lines, "\n"))
		return err
	}
	b, err := json.MarshalIndent(out, "", "    ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(o.stdout, string(b))
	return err
}

// textLines renders a value as "path<TAB>value" lines, in JSON key order.
func textLines(v any, path string, lines *[]string) {
	b, _ := json.Marshal(v)
	var generic any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	d.Decode(&generic)
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(t[k], strings.TrimPrefix(path+"."+k, "."))
			}
		case []any:
			for i, e := range t {
				walk(e, fmt.Sprintf("%s[%d]", path, i))
			}
		default:
			*lines = append(*lines, fmt.Sprintf("%s\t%v", path, t))
		}
	}
	walk(generic, path)
}

// apiError shortens an SDK error to "Code: message", the part a person
// needs.
func apiError(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%s: %s", ae.ErrorCode(), ae.ErrorMessage())
	}
	return err
}
