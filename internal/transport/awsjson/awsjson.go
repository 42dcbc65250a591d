// Package awsjson serves the AWS JSON 1.1 protocol: POST / with an
// X-Amz-Target header naming the operation and a JSON body. It reads the
// body under a size limit, authenticates the SigV4 signature, routes by
// target through an operation table, decodes the input, calls the service
// and encodes the output; and it is the one place that maps service error
// codes to HTTP status and the wire "__type".
//
// It imports auth, sigv4 and svcerr; it never touches storage, keys or
// crypto, and services never see HTTP.
package awsjson

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
	"github.com/arca-kms/arca/internal/transport/auditrec"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// MaxBodyBytes is the largest request body accepted. Larger bodies are
// refused from Content-Length before any of them is read.
const MaxBodyBytes = httpreq.MaxBodyBytes

// Handler runs one decoded operation.
type Handler func(ctx context.Context, c *auth.Caller, body []byte) (any, error)

// Operation is one row of a service's operation table.
type Operation struct {
	// Name is the operation name after the target prefix, e.g. "Encrypt".
	Name string
	// Action is the IAM action, e.g. "kms:Encrypt".
	Action string
	// Handle decodes and runs the operation.
	Handle Handler
	// in and out are the operation's input and output types, whose members
	// the service's audit view must classify (tested).
	in, out reflect.Type
}

// Op makes an Operation from a typed service method. Decoding errors become
// SerializationException; the method's own errors pass through. The decoded
// input and the output are handed to the request's audit record.
func Op[In, Out any](name, action string, f func(context.Context, *auth.Caller, *In) (*Out, error)) Operation {
	return Operation{Name: name, Action: action, in: reflect.TypeFor[In](), out: reflect.TypeFor[Out](),
		Handle: func(ctx context.Context, c *auth.Caller, body []byte) (any, error) {
			in := new(In)
			if err := decode(body, in); err != nil {
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
			return out, nil
		}}
}

// auditUnavailable is the answer to a request whose audit record cannot be
// made durable: the service's internal error, its cause only logged.
func auditUnavailable(err error) error {
	return &svcerr.Error{Code: svcerr.Internal, Msg: "An internal error occurred: the request could not be recorded in the audit log, so it was not performed. Retry the request.", Err: err}
}

// Service is a set of operations behind one target prefix and signing name.
type Service struct {
	// TargetPrefix is the part of X-Amz-Target before the dot, e.g. "TrentService".
	TargetPrefix string
	// AltPrefixes are other prefixes clients use for the same service
	// (CloudTrail: the SDKs send "CloudTrail_20131101", the AWS CLI the
	// fully qualified "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101").
	AltPrefixes []string
	// SigningName is the SigV4 service name requests must be scoped to, e.g. "kms".
	SigningName string
	// Audit is what audit events may say about the operations; nil hides
	// every member.
	Audit *auditrec.View
	ops   map[string]Operation
	// fault, when set, is the service's own retryable server-fault code,
	// which replaces KMS's DependencyTimeoutException and
	// KMSInternalException met before the operation runs
	// (authentication that could not reach storage, or a node past its
	// staleness bound).
	fault svcerr.Code
}

// serverFault gives a server fault met during authentication the
// service's own code, so that a Secrets Manager client sees a Secrets
// Manager error (InternalServiceError) rather than KMS's.
func (s *Service) serverFault(err error) error {
	if s == nil || s.fault == "" {
		return err
	}
	if e := svcerr.As(err); e != nil && (e.Code == svcerr.DependencyTimeout || e.Code == svcerr.Internal) {
		return &svcerr.Error{Code: s.fault, Msg: e.Msg, Err: err}
	}
	return err
}

// NewService returns a Service with the given operations.
func NewService(prefix, signingName string, ops ...Operation) *Service {
	s := &Service{TargetPrefix: prefix, SigningName: signingName, Audit: views[prefix], ops: make(map[string]Operation, len(ops))}
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
	// Regions the deployment serves; a request signed for another is refused.
	Regions []string
	Logger  *slog.Logger
	// Health reports liveness for GET /healthz.
	Health func() Health
	// Audit records every request; nil records nothing.
	Audit *auditrec.Auditor
}

// Health is the body of GET /healthz.
type Health struct {
	Status  string `json:"status"`
	Sealed  bool   `json:"sealed"`
	Version string `json:"version,omitempty"`
}

// Server is the AWS JSON 1.1 http.Handler.
type Server struct {
	services map[string]*Service
	verifier Verifier
	princ    Principals
	regions  map[string]bool
	log      *slog.Logger
	health   func() Health
	audit    *auditrec.Auditor
}

// New returns a Server.
func New(cfg Config) *Server {
	s := &Server{
		services: map[string]*Service{}, verifier: cfg.Verifier, princ: cfg.Principals,
		regions: map[string]bool{}, log: cfg.Logger, health: cfg.Health, audit: cfg.Audit,
	}
	for _, svc := range cfg.Services {
		s.services[svc.TargetPrefix] = svc
		for _, p := range svc.AltPrefixes {
			s.services[p] = svc
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
	if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.serveHealth(w)
		return
	}
	reqID := httpreq.NewRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	rec := s.audit.Begin(r, reqID, httpreq.SourceIP(r))
	out, err := s.serve(r, reqID, rec)
	var b []byte
	if err == nil {
		if b, err = json.Marshal(out); err != nil {
			err = svcerr.InternalError(err)
		}
	}
	if rec != nil {
		// The event is durable before any answer leaves: if it cannot be,
		// the operation's output is withheld.
		var code svcerr.Code
		var msg string
		if err != nil {
			_, code, msg = wireError(err)
		}
		if aerr := rec.Finish(r.Context(), string(code), msg); aerr != nil {
			err = auditUnavailable(aerr)
		}
	}
	if err != nil {
		s.writeError(w, r, reqID, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func (s *Server) serveHealth(w http.ResponseWriter) {
	h := Health{Status: "ok"}
	if s.health != nil {
		h = s.health()
	}
	b, _ := json.Marshal(h)
	w.Header().Set("Content-Type", "application/json")
	code := http.StatusOK
	if h.Sealed || h.Status != "ok" {
		code = http.StatusServiceUnavailable
	}
	w.WriteHeader(code)
	w.Write(b)
}

func (s *Server) serve(r *http.Request, reqID string, rec *auditrec.Request) (any, error) {
	if err := rec.Refuse(); err != nil {
		return nil, auditUnavailable(err)
	}
	if r.URL.Path != "/" {
		return nil, &httpError{status: http.StatusNotFound, code: svcerr.UnknownOperation, msg: "No such resource: " + r.URL.Path}
	}
	if r.Method != http.MethodPost {
		return nil, &httpError{status: http.StatusMethodNotAllowed, code: svcerr.UnknownOperation, msg: "Only POST is supported."}
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	// The operation follows the last dot: CloudTrail's prefix has dots.
	// It is known before authentication, so that a request refused there
	// is still recorded against its service and operation.
	target := r.Header.Get("X-Amz-Target")
	prefix, name := target, ""
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		prefix, name = target[:i], target[i+1:]
	}
	svc := s.services[prefix]
	if svc != nil {
		rec.Service(svc.Audit, svc.SigningName, name, auditrec.JSONName, auditrec.JSONName)
	}
	res, err := s.verifier.Verify(r, body)
	if err != nil {
		return nil, svc.serverFault(err)
	}
	rec.Region(res.Region)
	if svc != nil && res.Service != svc.SigningName {
		return nil, svcerr.New(svcerr.InvalidSignature, "Credential should be scoped to correct service: '%s'. ", svc.SigningName)
	}
	if !s.regions[res.Region] {
		return nil, svcerr.New(svcerr.InvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", res.Region)
	}
	p, err := s.princ.Principal(r.Context(), res.AccessKeyID, res.SessionToken)
	if err != nil {
		return nil, svc.serverFault(err)
	}
	if svc == nil {
		return nil, svcerr.New(svcerr.UnknownOperation, "")
	}
	op, ok := svc.ops[name]
	if !ok {
		return nil, svcerr.New(svcerr.UnknownOperation, "")
	}
	c := &auth.Caller{
		Principal: p, Region: res.Region, SourceIP: httpreq.SourceIP(r), UserAgent: r.UserAgent(),
		RequestID: reqID, SecureTransport: r.TLS != nil,
	}
	rec.Caller(c)
	return op.Handle(rec.WithContext(r.Context()), c, body)
}

// readBody reads the body under httpreq's limit, with this protocol's errors.
func readBody(r *http.Request) ([]byte, error) {
	b, err := httpreq.ReadBody(r)
	switch {
	case errors.Is(err, httpreq.ErrTooLarge):
		return nil, tooLarge()
	case err != nil:
		return nil, &httpError{status: http.StatusBadRequest, code: svcerr.Serialization, msg: "Could not read the request body."}
	}
	return b, nil
}

func tooLarge() error {
	return &httpError{status: http.StatusRequestEntityTooLarge, code: svcerr.RequestEntityTooLarge,
		msg: fmt.Sprintf("Request body exceeds %d bytes.", MaxBodyBytes)}
}

// decode parses an operation's JSON input. Messages name the member at
// fault but never echo its value, which may be secret.
func decode(body []byte, in any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, in)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	var be base64.CorruptInputError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return svcerr.New(svcerr.Serialization, "The request body must be a JSON object.")
		}
		return svcerr.New(svcerr.Serialization, "Unexpected %s for member '%s'.", te.Value, te.Field)
	case errors.As(err, &se):
		return svcerr.New(svcerr.Serialization, "The request body is not valid JSON (at byte %d).", se.Offset)
	case errors.As(err, &be):
		return svcerr.New(svcerr.Serialization, "A blob member is not valid base64 (at byte %d of its value).", int64(be))
	}
	return svcerr.New(svcerr.Serialization, "The request body could not be decoded.")
}

// httpError is a transport-level error with its own status code.
type httpError struct {
	status int
	code   svcerr.Code
	msg    string
}

func (e *httpError) Error() string { return string(e.code) + ": " + e.msg }

// statusOf is the one mapping from AWS error code to HTTP status. AWS JSON
// services answer client faults, including authentication failures, with
// 400, and only their own faults with 5xx.
func statusOf(code svcerr.Code) int {
	switch code {
	case svcerr.Internal, svcerr.KeyUnavailable, svcerr.InternalFailure, svcerr.InternalServiceError:
		return http.StatusInternalServerError
	case svcerr.DependencyTimeout, svcerr.ServiceUnavailable:
		return http.StatusServiceUnavailable
	case svcerr.RequestEntityTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// wireError is how err reaches the client: HTTP status, __type, message.
func wireError(err error) (status int, code svcerr.Code, msg string) {
	var he *httpError
	if errors.As(err, &he) {
		return he.status, he.code, he.msg
	} else if se := svcerr.As(err); se != nil {
		return statusOf(se.Code), se.Code, se.Msg
	}
	return http.StatusInternalServerError, svcerr.Internal, "An internal error occurred. Retry the request."
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	status, code, msg := wireError(err)
	if status >= 500 {
		s.log.Error("request failed", "request_id", reqID, "target", r.Header.Get("X-Amz-Target"), "code", code, "err", err)
	} else {
		s.log.Debug("request refused", "request_id", reqID, "target", r.Header.Get("X-Amz-Target"), "code", code, "msg", msg)
	}
	b, _ := json.Marshal(struct {
		Type    svcerr.Code `json:"__type"`
		Message string      `json:"message,omitempty"`
	}{code, msg})
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("x-amzn-ErrorType", string(code))
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
