package kms

import (
	"fmt"

	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/svcerr"
)

// The key-state table: for every operation that takes a KeyId (named by its
// IAM action) and every key state, whether the operation may proceed, and if
// not, the error AWS returns. It transcribes the table in AWS's developer
// guide, "Key states of AWS KMS keys" (key-state.html), and its footnotes:
//
//	[1] DisabledException: <key ARN> is disabled.
//	[2] DisabledException: <key ARN> is pending deletion (or pending replica deletion).
//	[3] KMSInvalidStateException: <key ARN> is pending deletion (or pending replica deletion).
//	[4] KMSInvalidStateException: <key ARN> is not pending deletion (or pending replica deletion).
//	[5] KMSInvalidStateException: <key ARN> is pending import.
//	[6] UnsupportedOperationException: <key ARN> origin is EXTERNAL which is not valid for this operation.
//	[7] If the key has imported material or is in a custom key store: UnsupportedOperationException.
//	[8] If the key has imported material: KMSInvalidStateException.
//	[9] If the key cannot or does not have imported material: UnsupportedOperationException.
//	[10] UpdateAlias: only the new target key's state matters.
//	[11] KMSInvalidStateException: <key ARN> is unavailable.
//	[12] EnableKey/DisableKey on an unavailable key succeed; the state stays Unavailable.
//
// Where a cell allows two answers ("[2] or [3]") Arca gives one, always the
// same, and where AWS publishes no row or column, the row follows what the
// operation's API reference says of the state. Every such choice is noted
// beside its row. Conditions that do not depend on the state (the key's
// spec, usage or origin) stay with the operations; the table only says what
// the state alone decides.
//
// The check is on the hot path of every cryptographic operation, so it is a
// string switch and two array indexes; it allocates only to build a refusal.

// stateCol is a key state's column in the table.
type stateCol uint8

// The columns, in the order of AWS's KeyState enum as the developer guide
// lists the states.
const (
	colEnabled stateCol = iota
	colDisabled
	colPendingDeletion
	colPendingImport
	colPendingReplicaDeletion
	colUnavailable
	colCreating
	colUpdating
	numStateCols
)

// stateCols maps columns back to states, for tests and documentation.
var stateCols = [numStateCols]keystore.State{
	colEnabled:                keystore.Enabled,
	colDisabled:               keystore.Disabled,
	colPendingDeletion:        keystore.PendingDeletion,
	colPendingImport:          keystore.PendingImport,
	colPendingReplicaDeletion: keystore.PendingReplicaDeletion,
	colUnavailable:            keystore.Unavailable,
	colCreating:               keystore.Creating,
	colUpdating:               keystore.Updating,
}

// stateColOf returns st's column; false for a state AWS does not define,
// which only a corrupted or newer record could hold.
func stateColOf(st keystore.State) (stateCol, bool) {
	switch st {
	case keystore.Enabled:
		return colEnabled, true
	case keystore.Disabled:
		return colDisabled, true
	case keystore.PendingDeletion:
		return colPendingDeletion, true
	case keystore.PendingImport:
		return colPendingImport, true
	case keystore.PendingReplicaDeletion:
		return colPendingReplicaDeletion, true
	case keystore.Unavailable:
		return colUnavailable, true
	case keystore.Creating:
		return colCreating, true
	case keystore.Updating:
		return colUpdating, true
	}
	return 0, false
}

// verdict is one cell: allowed, or the refusal to return. The zero value is
// deliberately not a verdict, so a cell left out of a row is caught by the
// table tests instead of silently allowing the operation.
type verdict uint8

const (
	vUnset verdict = iota
	// vOK: the state does not stop the operation.
	vOK
	// vDisabled: footnote [1].
	vDisabled
	// vPendingDeletion: footnote [3] (and the KMSInvalidStateException half of [2] or [3]).
	vPendingDeletion
	// vPendingReplicaDeletion: footnote [3] for a primary key waiting for its replicas' deletion.
	vPendingReplicaDeletion
	// vNotPendingDeletion: footnote [4].
	vNotPendingDeletion
	// vPendingImport: footnote [5].
	vPendingImport
	// vUnavailable: footnote [11].
	vUnavailable
	// vCreating: a replica key that is still being created (API reference of ReplicateKey).
	vCreating
	// vUpdating: a multi-Region key whose primary Region is changing (API reference of UpdatePrimaryRegion).
	vUpdating
	// vExternalOrigin: footnote [6]; only keys of Origin EXTERNAL are PendingImport.
	vExternalOrigin
	// vCustomKeyStore: footnotes [7] and [9]; only keys in custom key stores are Unavailable.
	vCustomKeyStore
)

// refusal returns the error a verdict stands for, in AWS's message form.
func (s *Service) refusal(k *keystore.Key, v verdict) error {
	a := s.keyARN(k)
	switch v {
	case vDisabled:
		return svcerr.New(svcerr.Disabled, "%s is disabled.", a)
	case vPendingDeletion:
		return svcerr.New(svcerr.InvalidState, "%s is pending deletion.", a)
	case vPendingReplicaDeletion:
		return svcerr.New(svcerr.InvalidState, "%s is pending replica deletion.", a)
	case vNotPendingDeletion:
		return svcerr.New(svcerr.InvalidState, "%s is not pending deletion.", a)
	case vPendingImport:
		return svcerr.New(svcerr.InvalidState, "%s is pending import.", a)
	case vUnavailable:
		return svcerr.New(svcerr.InvalidState, "%s is unavailable.", a)
	case vCreating:
		return svcerr.New(svcerr.InvalidState, "%s is creating.", a)
	case vUpdating:
		return svcerr.New(svcerr.InvalidState, "%s is updating.", a)
	case vExternalOrigin:
		return svcerr.New(svcerr.UnsupportedOperation, "%s origin is EXTERNAL which is not valid for this operation.", a)
	case vCustomKeyStore:
		return svcerr.New(svcerr.UnsupportedOperation, "%s is in a custom key store, which is not valid for this operation.", a)
	}
	return svcerr.InternalError(fmt.Errorf("kms: key-state verdict %d for %s has no refusal", v, a))
}

// stateRow is one operation's row.
type stateRow struct {
	action string
	cells  [numStateCols]verdict
}

// Rows shared by several operations. Columns: Enabled, Disabled,
// PendingDeletion, PendingImport, PendingReplicaDeletion, Unavailable,
// Creating, Updating.
var (
	// anyState: reads of metadata, allowed in every state.
	anyState = [numStateCols]verdict{vOK, vOK, vOK, vOK, vOK, vOK, vOK, vOK}
	// keyProperty: changes to a key's own properties (description, tags,
	// aliases). Refused only while deletion is pending [3]. A Creating key
	// "can be managed" and an Updating key is refused only "certain
	// management operations" (enabling, disabling, replicating), so both
	// allow these.
	keyProperty = [numStateCols]verdict{vOK, vOK, vPendingDeletion, vOK, vPendingReplicaDeletion, vOK, vOK, vOK}
	// enableDisable: EnableKey and DisableKey. Unavailable succeeds without
	// changing the state [12]; Creating is manageable (ReplicateKey) and gets
	// the same treatment; Updating is refused (UpdatePrimaryRegion names
	// enabling and disabling).
	enableDisable = [numStateCols]verdict{vOK, vOK, vPendingDeletion, vPendingImport, vPendingReplicaDeletion, vOK, vOK, vUpdating}
	// schedule: ScheduleKeyDeletion. Updating is refused: deleting a key
	// while its primary Region moves is one of the "certain management
	// operations" Arca counts, as it would strand the move.
	schedule = [numStateCols]verdict{vOK, vOK, vPendingDeletion, vOK, vPendingReplicaDeletion, vOK, vOK, vUpdating}
	// cancel: CancelKeyDeletion, valid only while deletion is pending [4];
	// a primary key waiting for its replicas may be cancelled too
	// (developer guide, "Deleting multi-Region keys").
	cancel = [numStateCols]verdict{vNotPendingDeletion, vNotPendingDeletion, vOK, vNotPendingDeletion, vOK, vNotPendingDeletion, vNotPendingDeletion, vNotPendingDeletion}
	// cryptoUse: cryptographic operations and GetPublicKey. PendingDeletion
	// is "[2] or [3]"; Arca answers [3], KMSInvalidStateException, which is
	// what every operation's API reference lists for an incompatible state
	// and lets a caller tell a disabled key from a doomed one by code. A
	// Creating key "cannot yet be used in cryptographic operations"
	// (ReplicateKey); an Updating one can (UpdatePrimaryRegion). Unavailable
	// is KMSInvalidStateException as footnote [11] says, not
	// KeyUnavailableException, which AWS documents as a retryable fault.
	cryptoUse = [numStateCols]verdict{vOK, vDisabled, vPendingDeletion, vPendingImport, vPendingReplicaDeletion, vUnavailable, vCreating, vOK}
	// rotationChange: EnableKeyRotation, DisableKeyRotation, and
	// RotateKeyOnDemand, which is not in AWS's table and follows its two
	// siblings (its API reference lists the same errors). PendingImport is
	// [6]: only Origin EXTERNAL keys are PendingImport, and Arca does not
	// rotate imported material. Rotation is a shared property of
	// multi-Region keys, so it does not change while the primary Region
	// moves.
	rotationChange = [numStateCols]verdict{vOK, vDisabled, vPendingDeletion, vExternalOrigin, vPendingReplicaDeletion, vCustomKeyStore, vOK, vUpdating}
	// rotationStatus: GetKeyRotationStatus. Allowed while disabled or pending
	// deletion (the API reference says what it reports then).
	rotationStatus = [numStateCols]verdict{vOK, vOK, vOK, vExternalOrigin, vOK, vCustomKeyStore, vOK, vOK}
	// rotationList: ListKeyRotations (not in AWS's table). A read; only
	// custom-key-store keys, which never rotate, are refused.
	rotationList = [numStateCols]verdict{vOK, vOK, vOK, vOK, vOK, vCustomKeyStore, vOK, vOK}
	// importMaterial: GetParametersForImport, ImportKeyMaterial,
	// DeleteImportedKeyMaterial. Pending deletion is [8]; Unavailable is [9]
	// (custom-key-store keys cannot have imported material). Creating and
	// Updating are refused: the material is shared by related multi-Region
	// keys and is not changed mid-replication.
	importMaterial = [numStateCols]verdict{vOK, vOK, vPendingDeletion, vOK, vPendingReplicaDeletion, vCustomKeyStore, vCreating, vUpdating}
	// multiRegion: ReplicateKey, UpdatePrimaryRegion (not in AWS's table
	// before multi-Region keys; both API references list DisabledException
	// and KMSInvalidStateException). A key pending (replica) deletion "cannot
	// be replicated"; an Updating key cannot be replicated or moved again.
	// PendingImport is refused: whether AWS replicates a primary key before
	// its material is imported is not documented, and refusing is the
	// answer that can later be relaxed. Custom-key-store keys cannot be
	// multi-Region.
	multiRegion = [numStateCols]verdict{vOK, vDisabled, vPendingDeletion, vPendingImport, vPendingReplicaDeletion, vCustomKeyStore, vCreating, vUpdating}
	// createGrant: CreateGrant. The table has Disabled [1], PendingImport
	// [5], PendingDeletion "[2] or [3]" (Arca answers [3], as for cryptoUse)
	// and Unavailable allowed. A Creating replica "can be managed" and an
	// Updating key is refused only enabling, disabling and replicating, so
	// both allow creating grants; a primary pending its replicas' deletion
	// is refused as pending deletion.
	createGrant = [numStateCols]verdict{vOK, vDisabled, vPendingDeletion, vPendingImport, vPendingReplicaDeletion, vOK, vOK, vOK}
)

// keyStateTable is the table, one row per operation that takes a KeyId.
// Rows for operations not built in this package yet name their action
// literally, so the branches adding them can declare the Act constants.
var keyStateTable = [...]stateRow{
	{ActDescribeKey, anyState},
	{ActGetKeyPolicy, anyState},
	{ActListResourceTags, anyState},
	{ActEnableKey, enableDisable},
	{ActDisableKey, enableDisable},
	{ActScheduleKeyDeletion, schedule},
	{ActCancelKeyDeletion, cancel},
	{ActUpdateKeyDescription, keyProperty},
	{ActCreateAlias, keyProperty},
	// UpdateAlias checks the new target only [10].
	{ActUpdateAlias, keyProperty},
	{ActTagResource, keyProperty},
	{ActUntagResource, keyProperty},
	{ActEncrypt, cryptoUse},
	{ActDecrypt, cryptoUse},
	{ActReEncryptFrom, cryptoUse},
	{ActReEncryptTo, cryptoUse},
	{ActGenerateDataKey, cryptoUse},
	{ActGenerateDataKeyWithoutPlaintext, cryptoUse},
	{ActGenerateDataKeyPair, cryptoUse},
	{ActGenerateDataKeyPairWithoutPlaintext, cryptoUse},
	{ActSign, cryptoUse},
	{ActVerify, cryptoUse},
	{ActGetPublicKey, cryptoUse},
	// The MAC and key agreement operations are not in AWS's table; they are
	// cryptographic operations and their API references list the same
	// DisabledException and KMSInvalidStateException.
	{ActGenerateMac, cryptoUse},
	{ActVerifyMac, cryptoUse},
	{ActDeriveSharedSecret, cryptoUse},
	{ActEnableKeyRotation, rotationChange},
	{ActDisableKeyRotation, rotationChange},
	{ActGetKeyRotationStatus, rotationStatus},
	{ActRotateKeyOnDemand, rotationChange},
	{ActListKeyRotations, rotationList},
	{ActGetParametersForImport, importMaterial},
	{ActImportKeyMaterial, importMaterial},
	// DeleteImportedKeyMaterial on a PendingImport key succeeds with no effect.
	{ActDeleteImportedKeyMaterial, importMaterial},
	{ActReplicateKey, multiRegion},
	{ActUpdatePrimaryRegion, multiRegion},
	// The key policy can be read and replaced in every state: it is how a
	// caller who lost access to a key, in whatever state, gets it back.
	{ActPutKeyPolicy, anyState},
	{ActListKeyPolicies, anyState},
	{ActCreateGrant, createGrant},
	// ListGrants, RetireGrant and RevokeGrant succeed in every state.
	{ActListGrants, anyState},
	{ActRetireGrant, anyState},
	{ActRevokeGrant, anyState},
}

// keyStateRow returns the index of action's row. A switch rather than a map
// so the hot path hashes nothing; TestKeyStateRowLookup keeps it in step
// with keyStateTable.
func keyStateRow(action string) (int, bool) {
	switch action {
	case ActDescribeKey:
		return 0, true
	case ActGetKeyPolicy:
		return 1, true
	case ActListResourceTags:
		return 2, true
	case ActEnableKey:
		return 3, true
	case ActDisableKey:
		return 4, true
	case ActScheduleKeyDeletion:
		return 5, true
	case ActCancelKeyDeletion:
		return 6, true
	case ActUpdateKeyDescription:
		return 7, true
	case ActCreateAlias:
		return 8, true
	case ActUpdateAlias:
		return 9, true
	case ActTagResource:
		return 10, true
	case ActUntagResource:
		return 11, true
	case ActEncrypt:
		return 12, true
	case ActDecrypt:
		return 13, true
	case ActReEncryptFrom:
		return 14, true
	case ActReEncryptTo:
		return 15, true
	case ActGenerateDataKey:
		return 16, true
	case ActGenerateDataKeyWithoutPlaintext:
		return 17, true
	case ActGenerateDataKeyPair:
		return 18, true
	case ActGenerateDataKeyPairWithoutPlaintext:
		return 19, true
	case ActSign:
		return 20, true
	case ActVerify:
		return 21, true
	case ActGetPublicKey:
		return 22, true
	case ActGenerateMac:
		return 23, true
	case ActVerifyMac:
		return 24, true
	case ActDeriveSharedSecret:
		return 25, true
	case ActEnableKeyRotation:
		return 26, true
	case ActDisableKeyRotation:
		return 27, true
	case ActGetKeyRotationStatus:
		return 28, true
	case ActRotateKeyOnDemand:
		return 29, true
	case ActListKeyRotations:
		return 30, true
	case ActGetParametersForImport:
		return 31, true
	case ActImportKeyMaterial:
		return 32, true
	case ActDeleteImportedKeyMaterial:
		return 33, true
	case ActReplicateKey:
		return 34, true
	case ActUpdatePrimaryRegion:
		return 35, true
	case ActPutKeyPolicy:
		return 36, true
	case ActListKeyPolicies:
		return 37, true
	case ActCreateGrant:
		return 38, true
	case ActListGrants:
		return 39, true
	case ActRetireGrant:
		return 40, true
	case ActRevokeGrant:
		return 41, true
	}
	return 0, false
}

// checkKeyState returns the AWS error for performing action on k in its
// current state, or nil. Every operation that takes a KeyId calls it with
// its own IAM action after authorizing, and again inside the transaction
// when it changes the key, so a state change that raced the request is seen.
// An action without a row is a programming error and fails closed.
func (s *Service) checkKeyState(k *keystore.Key, action string) error {
	row, ok := keyStateRow(action)
	if !ok {
		return svcerr.InternalError(fmt.Errorf("kms: no key-state row for %s", action))
	}
	col, ok := stateColOf(k.State)
	if !ok {
		return svcerr.New(svcerr.InvalidState, "%s is in state %s, which is not valid for this operation.", s.keyARN(k), k.State)
	}
	if v := keyStateTable[row].cells[col]; v != vOK {
		return s.refusal(k, v)
	}
	return nil
}
