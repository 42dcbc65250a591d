// Package svcerr defines the typed errors that services return and that the
// transport maps to AWS wire errors in exactly one place.
//
// It imports nothing of Arca's, so every layer may use it.
package svcerr

import (
	"errors"
	"fmt"
)

// Code is an AWS error code, sent to the client as "__type".
type Code string

// Error codes shared by the services. Each one is the exact AWS spelling.
const (
	AccessDenied             Code = "AccessDeniedException"
	AlreadyExists            Code = "AlreadyExistsException"
	DependencyTimeout        Code = "DependencyTimeoutException"
	Disabled                 Code = "DisabledException"
	DryRunOperation          Code = "DryRunOperationException"
	IncorrectKey             Code = "IncorrectKeyException"
	IncorrectKeyMaterial     Code = "IncorrectKeyMaterialException"
	InvalidAliasName         Code = "InvalidAliasNameException"
	InvalidArn               Code = "InvalidArnException"
	InvalidCiphertext        Code = "InvalidCiphertextException"
	InvalidGrantToken        Code = "InvalidGrantTokenException"
	InvalidGrantID           Code = "InvalidGrantIdException"
	InvalidKeyUsage          Code = "InvalidKeyUsageException"
	InvalidMarker            Code = "InvalidMarkerException"
	InvalidSignatureKMS      Code = "KMSInvalidSignatureException"
	InvalidMacKMS            Code = "KMSInvalidMacException"
	InvalidState             Code = "KMSInvalidStateException"
	Internal                 Code = "KMSInternalException"
	KeyUnavailable           Code = "KeyUnavailableException"
	LimitExceeded            Code = "LimitExceededException"
	MalformedPolicyDocument  Code = "MalformedPolicyDocumentException"
	NotFound                 Code = "NotFoundException"
	TagException             Code = "TagException"
	UnsupportedOperation     Code = "UnsupportedOperationException"
	Validation               Code = "ValidationException"
	Serialization            Code = "SerializationException"
	UnknownOperation         Code = "UnknownOperationException"
	MissingAuthToken         Code = "MissingAuthenticationTokenException"
	UnrecognizedClient       Code = "UnrecognizedClientException"
	InvalidSignature         Code = "InvalidSignatureException"
	IncompleteSignature      Code = "IncompleteSignatureException"
	ExpiredToken             Code = "ExpiredTokenException"
	RequestEntityTooLarge    Code = "RequestEntityTooLargeException"
	InvalidClientTokenID     Code = "InvalidClientTokenId"
	ServiceUnavailable       Code = "ServiceUnavailableException"
	ThrottlingException      Code = "ThrottlingException"
	InvalidAction            Code = "InvalidAction"
	MissingAction            Code = "MissingAction"
	InvalidParameterValue    Code = "InvalidParameterValue"
	InvalidQueryParameter    Code = "InvalidQueryParameter"
	InvalidRequestContent    Code = "InvalidRequestContentException"
	MissingParameter         Code = "MissingParameter"
	RequestExpired           Code = "RequestExpired"
	SignatureDoesNotMatch    Code = "SignatureDoesNotMatch"
	OptInRequired            Code = "OptInRequired"
	InternalFailure          Code = "InternalFailure"
	CustomKeyStoreNotFound   Code = "CustomKeyStoreNotFoundException"
	ExpiredImportToken       Code = "ExpiredImportTokenException"
	InvalidImportToken       Code = "InvalidImportTokenException"
	ConflictException        Code = "ConflictException"
	CloudHsmClusterInvalid   Code = "CloudHsmClusterInvalidConfigurationException"
	KMSInvalidStateException Code = InvalidState

	// Secrets Manager's own codes.
	DecryptionFailure    Code = "DecryptionFailure"
	EncryptionFailure    Code = "EncryptionFailure"
	InternalServiceError Code = "InternalServiceError"
	InvalidNextToken     Code = "InvalidNextTokenException"
	InvalidParameter     Code = "InvalidParameterException"
	InvalidRequest       Code = "InvalidRequestException"
	PreconditionNotMet   Code = "PreconditionNotMetException"
	PublicPolicy         Code = "PublicPolicyException"
	ResourceExists       Code = "ResourceExistsException"
	ResourceNotFound     Code = "ResourceNotFoundException"

	// IAM's own codes, for conditions the shared codes above do not name.
	DeleteConflict Code = "DeleteConflict"
	InvalidInput   Code = "InvalidInput"
)

// Error is a service error. Msg is safe to send to the client; Err is an
// internal cause that is logged with the request ID and never sent.
type Error struct {
	Code Code
	Msg  string
	Err  error
}

// Error returns the client-visible code and message; the internal cause is
// deliberately left out so that a careless %v never leaks it to a client.
func (e *Error) Error() string {
	if e.Msg == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Msg
}

// Unwrap exposes the internal cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a client-safe message.
func New(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error with a client-safe message and an internal cause.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// Validationf returns a ValidationException with a client-safe message.
func Validationf(format string, args ...any) *Error {
	return New(Validation, format, args...)
}

// InternalError returns a KMSInternalException whose cause is only logged,
// or a DependencyTimeoutException (HTTP 503) when the cause is that storage
// could not be reached (an error with an Unavailable() bool method that
// returns true, such as storage.ErrUnavailable): both are retryable, and
// the latter tells the client that the dependency, not Arca, failed. A
// request that was running when an operator sealed the server (a cause with
// a Sealed() bool method that returns true, barrier.ErrSealed) is also a
// DependencyTimeoutException, saying so: it is as retryable as the 503 the
// sealed server gives every later request.
func InternalError(err error) *Error {
	var s interface{ Sealed() bool }
	if errors.As(err, &s) && s.Sealed() {
		return &Error{Code: DependencyTimeout, Msg: "Arca was sealed while the request ran, and did not perform it. Retry the request on an unsealed node.", Err: err}
	}
	var u interface{ Unavailable() bool }
	if errors.As(err, &u) && u.Unavailable() {
		return &Error{Code: DependencyTimeout, Msg: "The service could not reach its storage in time. Retry the request.", Err: err}
	}
	return &Error{Code: Internal, Msg: "An internal error occurred. Retry the request.", Err: err}
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// CodeOf returns the code of the *Error in err's chain, or "" when there is none.
func CodeOf(err error) Code {
	if e := As(err); e != nil {
		return e.Code
	}
	return ""
}
