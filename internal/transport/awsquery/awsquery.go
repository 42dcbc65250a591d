// Package awsquery serves the AWS Query protocol, which IAM and STS speak:
// POST / with a form-encoded body (Action=CreateUser&Version=2010-05-08&
// UserName=...), lists as Name.member.N, and XML responses
//
//	<CreateUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
//	  <CreateUserResult>...</CreateUserResult>
//	  <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata>
//	</CreateUserResponse>
//
// It reads the body under a size limit, authenticates the SigV4 signature,
// picks the service by the signing scope's service name, routes by Action
// through an operation table, decodes the form into the operation's typed
// input, calls the service and encodes the output. It is the one place that
// maps service error codes to Query error codes and HTTP statuses
// (wireError).
//
// It imports auth, sigv4 and svcerr; it never touches storage, and services
// never see HTTP.
package awsquery

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
	"github.com/arca-kms/arca/internal/transport/auditrec"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// MaxBodyBytes is the largest request body accepted. Larger bodies are
// refused from Content-Length before any of them is read. An IAM policy
// document may hold 131,072 characters, which URL-encode to at most three
// times as many bytes.
const MaxBodyBytes = httpreq.MaxBodyBytes

// GlobalRegion is the region the SDKs sign IAM requests with, whatever the
// client's own region, and STS's global endpoint's region. It is always
// accepted besides the deployment's regions.
const GlobalRegion = "us-east-1"

// Handler runs one decoded operation.
type Handler func(ctx context.Context, c *auth.Caller, form url.Values) (any, error)

// Operation is one row of a service's operation table.
type Operation struct {
	// Name is the Action, e.g. "CreateUser".
	Name string
	// Handle decodes and runs the operation.
	Handle Handler
	// in and out are the operation's input and output types, whose members
	// the service's audit view must classify (tested).
	in, out reflect.Type
	// Unsigned marks an operation AWS serves without a signature (STS's
	// AssumeRoleWithWebIdentity, whose token is the credential); it runs
	// with an empty Caller when the request carries no signature at all.
	Unsigned bool
}

// Unsigned returns o marked as accepted without a signature.
func Unsigned(o Operation) Operation {
	o.Unsigned = true
	return o
}

// Op makes an Operation from a typed service method. The input is decoded
// with Decode; an output struct without fields is answered with no Result
// element, as AWS answers operations that return nothing. The decoded input
// and the output are handed to the request's audit record.
func Op[In, Out any](name string, f func(context.Context, *auth.Caller, *In) (*Out, error)) Operation {
	return Operation{Name: name, in: reflect.TypeFor[In](), out: reflect.TypeFor[Out](), Handle: func(ctx context.Context, c *auth.Caller, form url.Values) (any, error) {
		in := new(In)
		if err := Decode(form, in); err != nil {
			return nil, err
		}
		if err := auditrec.Decoded(ctx, in); err != nil {
			return nil, auditUnavailable(err)
		}
		out, err := f(ctx, c, in)
		if err != nil {
			return nil, err
		}
		auditrec.Result(ctx, out)
		if reflect.TypeFor[Out]().NumField() == 0 {
			return nil, nil
		}
		return out, nil
	}}
}

// Service is a set of operations behind one signing name and API version.
type Service struct {
	// SigningName is the SigV4 service name that selects this service, e.g. "iam".
	SigningName string
	// Version is the API version, e.g. "2010-05-08".
	Version string
	// Namespace is the XML namespace of responses, e.g.
	// "https://iam.amazonaws.com/doc/2010-05-08/".
	Namespace string
	// FaultCode is the code this service gives its own failures: IAM's
	// model names ServiceFailure; others use AWS's common InternalFailure.
	FaultCode string
	// Audit is what audit events may say about the operations; nil hides
	// every member.
	Audit *auditrec.View
	// Codes overrides wireError's Query code for some service error codes:
	// STS answers ExpiredTokenException where IAM's common code is
	// ExpiredToken.
	Codes map[svcerr.Code]string
	ops   map[string]Operation
}

// NewService returns a Service with the given operations.
func NewService(signingName, version, namespace string, ops ...Operation) *Service {
	s := &Service{SigningName: signingName, Version: version, Namespace: namespace,
		FaultCode: "InternalFailure", ops: make(map[string]Operation, len(ops))}
	for _, o := range ops {
		s.ops[o.Name] = o
	}
	return s
}

// Verifier checks SigV4 signatures; *sigv4.Verifier implements it.
type Verifier = httpreq.Verifier

// Principals maps a verified access key (and session token) to its principal.
type Principals = httpreq.Principals

// Config is what the handler needs.
type Config struct {
	Services   []*Service
	Verifier   Verifier
	Principals Principals
	// Regions the deployment serves; GlobalRegion is accepted besides them.
	Regions []string
	Logger  *slog.Logger
	// Audit records every request; nil records nothing.
	Audit *auditrec.Auditor
}

// Server is the AWS Query http.Handler.
type Server struct {
	services map[string]*Service
	first    *Service // whose namespace errors use before a service is known
	verifier Verifier
	princ    Principals
	regions  map[string]bool
	log      *slog.Logger
	audit    *auditrec.Auditor
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{services: map[string]*Service{}, verifier: cfg.Verifier, princ: cfg.Principals,
		regions: map[string]bool{GlobalRegion: true}, log: cfg.Logger, audit: cfg.Audit}
	for _, svc := range cfg.Services {
		s.services[svc.SigningName] = svc
		if s.first == nil {
			s.first = svc
		}
	}
	for _, r := range cfg.Regions {
		s.regions[r] = true
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	return s
}

var _ http.Handler = (*Server)(nil)

// ServeHTTP handles one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reqID := httpreq.NewRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	rec := s.audit.Begin(r, reqID, httpreq.SourceIP(r))
	svc, action, out, err := s.serve(r, reqID, rec)
	if svc == nil {
		svc = s.first
	}
	var buf bytes.Buffer
	if err == nil {
		if eerr := encodeResponse(&buf, svc.Namespace, action, reqID, out); eerr != nil {
			err = svcerr.InternalError(eerr)
		}
	}
	if rec != nil {
		// The event is durable before any answer leaves: if it cannot be,
		// the operation's output is withheld.
		var code, msg string
		if err != nil {
			code, msg, _, _ = s.wire(svc, err)
		}
		if aerr := rec.Finish(r.Context(), code, msg); aerr != nil {
			err = auditUnavailable(aerr)
		}
	}
	if err != nil {
		s.writeError(w, svc, action, reqID, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

func (s *Server) serve(r *http.Request, reqID string, rec *auditrec.Request) (svc *Service, action string, out any, err error) {
	if err := rec.Refuse(); err != nil {
		return nil, "", nil, auditUnavailable(err)
	}
	if r.URL.Path != "/" {
		return nil, "", nil, &httpError{status: http.StatusNotFound, code: "NotFound", msg: "No such resource: " + r.URL.Path}
	}
	if r.Method != http.MethodPost {
		return nil, "", nil, &httpError{status: http.StatusMethodNotAllowed, code: "MethodNotAllowed", msg: "Only POST is supported."}
	}
	body, err := readBody(r)
	if err != nil {
		return nil, "", nil, err
	}
	if !signed(r) {
		if svc, op, form := s.unsignedOp(body); op != nil {
			c := &auth.Caller{Region: GlobalRegion, SourceIP: httpreq.SourceIP(r), UserAgent: r.UserAgent(),
				RequestID: reqID, SecureTransport: r.TLS != nil}
			rec.Service(svc.Audit, svc.SigningName, op.Name, auditrec.QueryName, auditrec.QueryName)
			rec.Region(GlobalRegion)
			rec.Anonymous("WebIdentityUser")
			out, err := op.Handle(rec.WithContext(r.Context()), c, form)
			return svc, op.Name, out, err
		}
	}
	res, err := s.verifier.Verify(r, body)
	if err != nil {
		return nil, "", nil, err
	}
	svc = s.services[res.Service]
	if svc == nil {
		return nil, "", nil, svcerr.New(svcerr.InvalidSignature, "Credential should be scoped to correct service: '%s'. ", s.first.SigningName)
	}
	rec.Region(res.Region)
	if !s.regions[res.Region] {
		return svc, "", nil, svcerr.New(svcerr.InvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", res.Region)
	}
	p, err := s.princ.Principal(r.Context(), res.AccessKeyID, res.SessionToken)
	if err != nil {
		return svc, "", nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return svc, "", nil, svcerr.New(svcerr.InvalidQueryParameter, "The request body is not a valid form-encoded query string.")
	}
	action = form.Get("Action")
	rec.Service(svc.Audit, svc.SigningName, action, auditrec.QueryName, auditrec.QueryName)
	if action == "" {
		return svc, "", nil, svcerr.New(svcerr.MissingAction, "Missing Action")
	}
	op, ok := svc.ops[action]
	if v := form.Get("Version"); !ok || (v != "" && v != svc.Version) {
		if v == "" {
			v = svc.Version
		}
		return svc, "", nil, svcerr.New(svcerr.InvalidAction, "Could not find operation %s for version %s", clip(action), clip(v))
	}
	c := &auth.Caller{
		Principal: p, Region: res.Region, SourceIP: httpreq.SourceIP(r), UserAgent: r.UserAgent(),
		RequestID: reqID, SecureTransport: r.TLS != nil,
	}
	rec.Caller(c)
	out, err = op.Handle(rec.WithContext(r.Context()), c, form)
	return svc, action, out, err
}

// signed reports whether r carries a SigV4 signature in either form.
func signed(r *http.Request) bool {
	return r.Header.Get("Authorization") != "" || r.URL.Query().Has("X-Amz-Algorithm")
}

// unsignedOp returns the operation an unsigned request asks for, when it is
// one that AWS serves unsigned, with the service that has it and the form.
// Anything else is left to the verifier, which refuses the missing
// signature as AWS does.
func (s *Server) unsignedOp(body []byte) (*Service, *Operation, url.Values) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, nil, nil
	}
	action, version := form.Get("Action"), form.Get("Version")
	for _, svc := range s.services {
		if op, ok := svc.ops[action]; ok && op.Unsigned && (version == "" || version == svc.Version) {
			return svc, &op, form
		}
	}
	return nil, nil, nil
}

// encodeResponse writes the XML envelope of a successful response; out nil
// means no Result element.
func encodeResponse(w io.Writer, namespace, action, reqID string, out any) error {
	enc := xml.NewEncoder(w)
	start := xml.StartElement{Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: namespace}}}
	if err := enc.EncodeToken(start); err != nil {
		return err
	}
	if out != nil {
		if err := enc.EncodeElement(out, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return err
		}
	}
	meta := struct {
		RequestID string `xml:"RequestId"`
	}{reqID}
	if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	if err := enc.EncodeToken(start.End()); err != nil {
		return err
	}
	return enc.Flush()
}

// readBody reads the body under httpreq's limit, with this protocol's errors.
func readBody(r *http.Request) ([]byte, error) {
	b, err := httpreq.ReadBody(r)
	switch {
	case errors.Is(err, httpreq.ErrTooLarge):
		return nil, tooLarge()
	case err != nil:
		return nil, svcerr.New(svcerr.InvalidQueryParameter, "Could not read the request body.")
	}
	return b, nil
}

func tooLarge() error {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge",
		msg: fmt.Sprintf("Request body exceeds %d bytes.", MaxBodyBytes)}
}

// httpError is a transport-level error with its own status and code.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

// wireError is the one mapping from a service error code to the Query
// error code, HTTP status and fault side that IAM and STS answer with
// (the statuses are those of the IAM API reference and AWS's common errors).
// fault is the code of the service's own failures.
func wireError(code svcerr.Code, fault string) (wire string, status int, receiver bool) {
	switch code {
	case svcerr.AccessDenied:
		return "AccessDenied", http.StatusForbidden, false
	case svcerr.NotFound:
		return "NoSuchEntity", http.StatusNotFound, false
	case svcerr.AlreadyExists:
		return "EntityAlreadyExists", http.StatusConflict, false
	case svcerr.DeleteConflict:
		return "DeleteConflict", http.StatusConflict, false
	case svcerr.LimitExceeded:
		return "LimitExceeded", http.StatusConflict, false
	case svcerr.MalformedPolicyDocument:
		return "MalformedPolicyDocument", http.StatusBadRequest, false
	case svcerr.Validation:
		return "ValidationError", http.StatusBadRequest, false
	case svcerr.InvalidInput:
		return "InvalidInput", http.StatusBadRequest, false
	case svcerr.UnrecognizedClient, svcerr.InvalidClientTokenID:
		return "InvalidClientTokenId", http.StatusForbidden, false
	case svcerr.InvalidSignature, svcerr.SignatureDoesNotMatch:
		return "SignatureDoesNotMatch", http.StatusForbidden, false
	case svcerr.IncompleteSignature:
		return "IncompleteSignature", http.StatusBadRequest, false
	case svcerr.MissingAuthToken:
		return "MissingAuthenticationToken", http.StatusForbidden, false
	case svcerr.ExpiredToken:
		return "ExpiredToken", http.StatusBadRequest, false
	case svcerr.UnknownOperation, svcerr.InvalidAction:
		return "InvalidAction", http.StatusBadRequest, false
	case svcerr.OptInRequired, svcerr.IDPRejectedClaim:
		return string(code), http.StatusForbidden, false
	case svcerr.MissingAction, svcerr.MissingParameter, svcerr.InvalidParameterValue,
		svcerr.InvalidQueryParameter, svcerr.RequestExpired:
		return string(code), http.StatusBadRequest, false
	case svcerr.ThrottlingException:
		return "Throttling", http.StatusBadRequest, false
	case svcerr.RequestEntityTooLarge:
		return "RequestEntityTooLarge", http.StatusRequestEntityTooLarge, false
	case svcerr.DependencyTimeout, svcerr.ServiceUnavailable:
		return "ServiceUnavailable", http.StatusServiceUnavailable, true
	case svcerr.Internal, svcerr.InternalFailure, svcerr.KeyUnavailable:
		return fault, http.StatusInternalServerError, true
	}
	// A code of another service that reached this transport is a client
	// fault of that name; never let it become a 500.
	return string(code), http.StatusBadRequest, false
}

type errorBody struct {
	XMLName xml.Name `xml:"ErrorResponse"`
	Xmlns   string   `xml:"xmlns,attr"`
	Error   struct {
		Type    string `xml:"Type"`
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Error"`
	RequestID string `xml:"RequestId"`
}

// auditUnavailable is the answer to a request whose audit record cannot be
// made durable: the service's internal error, its cause only logged.
func auditUnavailable(err error) error {
	return &svcerr.Error{Code: svcerr.Internal, Msg: "An internal error occurred: the request could not be recorded in the audit log, so it was not performed. Retry the request.", Err: err}
}

// wire is how err reaches the client: Query code, message, status and side.
func (s *Server) wire(svc *Service, err error) (code, msg string, status int, receiver bool) {
	fault := "InternalFailure"
	if svc != nil {
		fault = svc.FaultCode
	}
	var he *httpError
	if errors.As(err, &he) {
		return he.code, he.msg, he.status, false
	} else if se := svcerr.As(err); se != nil {
		code, status, receiver = wireError(se.Code, fault)
		if svc != nil && svc.Codes[se.Code] != "" {
			code = svc.Codes[se.Code]
		}
		return code, se.Msg, status, receiver
	}
	code, status, receiver = wireError(svcerr.Internal, fault)
	return code, "An internal error occurred. Retry the request.", status, receiver
}

func (s *Server) writeError(w http.ResponseWriter, svc *Service, action, reqID string, err error) {
	var body errorBody
	if svc != nil {
		body.Xmlns = svc.Namespace
	}
	var status int
	var receiver bool
	body.Error.Code, body.Error.Message, status, receiver = s.wire(svc, err)
	if receiver {
		body.Error.Type = "Receiver"
	} else {
		body.Error.Type = "Sender"
	}
	body.RequestID = reqID
	if status >= 500 {
		s.log.Error("request failed", "request_id", reqID, "action", action, "code", body.Error.Code, "err", err)
	} else {
		s.log.Debug("request refused", "request_id", reqID, "action", action, "code", body.Error.Code, "msg", body.Error.Message)
	}
	b, _ := xml.Marshal(&body)
	h := w.Header()
	h.Set("Content-Type", "text/xml")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
