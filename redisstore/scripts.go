package redisstore

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/costplan/costplan/core"
)

var (
	//go:embed lua/prelude.lua
	prelude string
	//go:embed lua/reserve.lua
	reserveLua string
	//go:embed lua/settle.lua
	settleLua string
	//go:embed lua/release.lua
	releaseLua string
	//go:embed lua/lock.lua
	lockLua string
	//go:embed lua/reset.lua
	resetLua string
	//go:embed lua/beat.lua
	beatLua string
	//go:embed lua/register.lua
	registerLua string
)

// The scripts, each with the shared prelude. EVALSHA runs them; EVAL loads them the
// first time a server has not seen one.
var (
	reserveScript  = redis.NewScript(prelude + reserveLua)
	settleScript   = redis.NewScript(prelude + settleLua)
	releaseScript  = redis.NewScript(prelude + releaseLua)
	lockScript     = redis.NewScript(prelude + lockLua)
	resetScript    = redis.NewScript(prelude + resetLua)
	beatScript     = redis.NewScript(prelude + beatLua)
	registerScript = redis.NewScript(prelude + registerLua)
)

// Reply codes shared by the scripts.
const (
	codeRefused  = 0
	codeDone     = 1
	codeRepeated = 2
	codeUnknown  = -1
	codeOther    = -2 // settled when releasing, released when settling
	codeToken    = -3
)

// reply is a script's answer: a code, the shared state after the operation, then
// what the operation adds.
type reply struct {
	code     int64
	spent    core.Money
	reserved core.Money
	locked   bool
	warned   bool
	reason   string
	lockSeq  int64 // locks so far: each lock is announced once per process
	epoch    int64 // resets so far: the warning is announced once per epoch
	rest     []any
}

// run runs a script within the store's timeout and decodes its reply.
func (s *Store) run(ctx context.Context, script *redis.Script, keys []string, args ...any) (reply, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	v, err := script.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return reply{}, s.storeError(err)
	}
	if len(v) < 8 {
		return reply{}, fmt.Errorf("budget store %s: malformed reply %v", s.name, v)
	}
	r := reply{code: toInt(v[0]), spent: core.Money(toInt(v[1])), reserved: core.Money(toInt(v[2])),
		locked: toInt(v[3]) == 1, warned: toInt(v[4]) == 1, reason: toString(v[5]), lockSeq: toInt(v[6]),
		epoch: toInt(v[7]), rest: v[8:]}
	return r, nil
}

// storeError names the store in err: any failure to run a script means the budget
// cannot be checked.
func (s *Store) storeError(err error) error {
	return &UnavailableError{Store: s.name, Key: s.opts.Key, Err: err}
}

func (r reply) int(i int) int64 {
	if i >= len(r.rest) {
		return 0
	}
	return toInt(r.rest[i])
}

func (r reply) money(i int) core.Money { return core.Money(r.int(i)) }

func (r reply) str(i int) string {
	if i >= len(r.rest) {
		return ""
	}
	return toString(r.rest[i])
}

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}
