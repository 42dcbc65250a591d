package memory

import (
	"testing"

	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(*testing.T) storage.Backend { return New() })
}
