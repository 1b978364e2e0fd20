package domain

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/o2ohub/o2ohub/models"
)

// Env is what every room runs on: the database, the clock and the logger.
type Env struct {
	DB    *models.DB
	Clock Clock
	Log   *slog.Logger
}

// NewEnv returns an Env, with the system clock and the default logger where none is given.
func NewEnv(db *models.DB, clock Clock, log *slog.Logger) Env {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	return Env{DB: db, Clock: clock, Log: log}
}

// Now is the room's time, to the microsecond: what PostgreSQL keeps, so a value returned at once equals
// the one read back later.
func (e Env) Now() time.Time { return e.Clock.Now().UTC().Truncate(time.Microsecond) }

// NewToken returns a new random bearer token and the SHA-256 hash under which it is stored.
func NewToken() (token, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken returns the hex SHA-256 of a token: sessions are stored only as this hash.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
