package journal

import (
	"crypto/rand"
	"encoding/hex"
)

// NewSessionID returns a random session identifier (16 hex digits) for records.
func NewSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
