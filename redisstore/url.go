package redisstore

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// IsURL reports whether raw names a Redis store (redis:// or rediss://).
func IsURL(raw string) bool {
	return strings.HasPrefix(raw, "redis://") || strings.HasPrefix(raw, "rediss://")
}

// ClientOptions parses a redis://[user:pass@]host:port/db or rediss:// URL into
// go-redis options whose dial, read, write and pool timeouts are all timeout.
func ClientOptions(raw string, timeout time.Duration) (*redis.Options, error) {
	if !IsURL(raw) {
		return nil, fmt.Errorf("store URL %q: want redis://[user:pass@]host:port/db or rediss://", Redact(raw))
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("store URL %q: %w", Redact(raw), err)
	}
	o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolTimeout = timeout, timeout, timeout, timeout
	o.ContextTimeoutEnabled = true
	o.MaxRetries = 1
	o.DialerRetries = 1 // the heartbeat tries again every Poll
	o.DisableIdentity = true
	o.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return o, nil
}

// Redact returns raw with its password replaced by "xxxxx".
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "redis"
	}
	return u.Redacted()
}

// CheckKey accepts a budget key of 1 to 128 letters, digits and . _ - : / @ + =.
// Braces are refused: the key goes inside a Redis Cluster hash tag.
func CheckKey(key string) error {
	if key == "" {
		return errors.New("the budget key is empty")
	}
	if len(key) > 128 {
		return fmt.Errorf("budget key %.20q...: longer than 128 characters", key)
	}
	for _, r := range key {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:/@+=", r)
		if !ok {
			return fmt.Errorf("budget key %q: %q is not allowed (use letters, digits and . _ - : / @ + =)", key, r)
		}
	}
	return nil
}
