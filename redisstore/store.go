// Package redisstore keeps a CostPlan budget in Redis, so that processes on several
// machines share one budget with the guarantees of the in-memory ledger: every
// operation is one Lua script, atomic and one round trip; reservations carry leases,
// so a process that dies does not hold budget; settle and release are idempotent by
// reservation id; a lock made by one process is seen by all. Money is integer
// nano-dollars throughout.
//
// The keys of a budget named NAME all carry the hash tag {NAME}, so that they live in
// one slot of a Redis Cluster: costplan:{NAME}:state, :holds, :leases, :ids, :expiry,
// :daily:YYYY-MM-DD and :monthly:YYYY-MM; locks and resets are published on
// costplan:{NAME}:events.
package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/costplan/costplan/core"
)

// Defaults of Options' zero fields.
const (
	DefaultLease    = 30 * time.Second
	DefaultTimeout  = 2 * time.Second
	DefaultPoll     = time.Second
	DefaultRemember = time.Hour
)

// Limits of the figures the store computes with exactly (Lua numbers are doubles).
const (
	// MaxAmount is the largest cap, input bound or spend the store accepts: 2^52
	// nano-dollars, about $4.5 million.
	MaxAmount core.Money = 1 << 52
	// MaxRate is the largest output price per million tokens (choices included) the
	// store accepts: 2^49 nano-dollars, about $563,000.
	MaxRate core.Money = 1 << 49
	// maxTokens bounds the output tokens asked for; larger requests ask for this many.
	maxTokens core.Tokens = 1 << 52
	// minLease is the shortest lease: one whose third, the renewal period, is a
	// millisecond.
	minLease = 3 * time.Millisecond
)

// Options configure a Store. URL or Client, and Key, are required.
type Options struct {
	// URL is the store: redis://[user:pass@]host:port/db or rediss:// for TLS. It
	// names the store in errors (without its password) and is dialled when Client
	// is nil.
	URL string
	// Client is the Redis client to use; nil means one dialled from URL, which Close
	// closes.
	Client redis.UniversalClient
	// Key names the shared budget; see CheckKey.
	Key string
	// Caps are this process's caps; Open requires a positive session cap.
	Caps core.Caps
	// Daily and Monthly are shared window caps, counted in Redis across every
	// process of the budget; zero means none.
	Daily, Monthly core.Money
	// Location is the time zone of the windows; nil means time.Local.
	Location *time.Location
	// Lease is how long a reservation outlives its process; the store renews the
	// leases of its calls in flight every Poll. Zero means DefaultLease; Open refuses
	// one shorter than minLease.
	Lease time.Duration
	// Timeout bounds every round trip to Redis; zero means DefaultTimeout.
	Timeout time.Duration
	// Poll is how often the store renews its leases, reads the shared state (a lock
	// made elsewhere included) and, after a failure, tries Redis again; zero means
	// DefaultPoll. It is at most a third of Lease.
	Poll time.Duration
	// Remember is how long settled, released and reclaimed ids are remembered, so
	// that a repeated settle or release changes nothing; zero means DefaultRemember.
	Remember time.Duration
	// FailOpen meters calls locally while Redis cannot be reached, within what the
	// budget had left at the last contact, and adds their spend to Redis once it
	// answers again. False (fail closed) refuses calls instead.
	FailOpen bool
	// AdminToken, when set, is registered (as its SHA-256) for the budget if none is,
	// and Reset requires the registered one.
	AdminToken string
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Now is the clock that names the windows; nil means time.Now. Leases use the
	// Redis server's clock.
	Now func() time.Time
}

// Store is a core.Store kept in Redis. It is safe for concurrent use. Its methods
// return a *core.BudgetError for refusals and an error wrapping ErrUnavailable when
// Redis cannot be reached.
type Store struct {
	rdb       redis.UniversalClient
	ownClient bool
	opts      Options
	name      string // the URL without its password
	keys      []string
	channel   string
	warnAt    core.Money
	admin     string // SHA-256 of the admin token, hex; "" for none
	instance  string // prefix of this store's reservation ids
	seq       atomic.Uint64
	log       *slog.Logger

	ledgerOnce sync.Once
	ledger     *core.Ledger

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu sync.Mutex // guards the following fields
	// holds are this process's reservations in flight.
	holds map[string]hold
	// lockTold is the last lock this process announced (its lockseq); warnTold is
	// one more than the epoch whose warning it announced (zero: none).
	lockTold, warnTold int64
	// last is the shared state at the last contact; lastWindows its window spend.
	last        core.Snapshot
	lastWindows []core.Money
	// down is set while Redis cannot be reached, since downSince, for downErr.
	down      bool
	downSince time.Time
	downErr   error
	// local meters calls while down when FailOpen is set.
	local *core.MemoryStore
	// pending are settles and releases to send once Redis answers; refused counts
	// refusals not yet added.
	pending []pendingOp
	refused int64
}

// hold is one reservation of this process.
type hold struct {
	amount core.Money
	// local is the in-process store that holds it while Redis is down, or nil;
	// localID is its id there.
	local   *core.MemoryStore
	localID string
}

var _ core.Store = (*Store)(nil)

// ErrUnavailable means Redis could not be reached or did not answer in time.
var ErrUnavailable = errors.New("unavailable")

// Open connects to the budget store, registers this process's caps and starts
// renewing leases and watching the shared lock. With FailOpen unset an unreachable
// store is an error; with it set the store starts metering locally.
func Open(ctx context.Context, opts Options) (*Store, error) {
	return open(ctx, opts, true)
}

// open implements Open; background false leaves the heartbeat and the watcher off,
// for tests that drive them.
func open(ctx context.Context, opts Options, background bool) (*Store, error) {
	if err := opts.Caps.Validate(); err != nil {
		return nil, err
	}
	for _, m := range []core.Money{opts.Caps.Session, opts.Caps.PerCall, opts.Daily, opts.Monthly} {
		if m < 0 || m > MaxAmount {
			return nil, fmt.Errorf("budget store: caps must be between $0 and %s, got %s", MaxAmount, m)
		}
	}
	if opts.Lease > 0 && opts.Lease < minLease {
		return nil, fmt.Errorf("budget store: lease %s is too short to be renewed, want at least %s", opts.Lease, minLease)
	}
	s, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	if err := s.register(ctx); err != nil {
		if !opts.FailOpen {
			s.closeClient()
			return nil, err
		}
		s.failed(ctx, err)
	}
	if background {
		s.start()
	}
	return s, nil
}

// OpenAdmin connects to the budget store for an operator: Snapshot, Windows and
// Reset work, with the caps and windows the metering processes registered; nothing
// runs in the background. A registered time zone that this machine cannot load is
// an error.
func OpenAdmin(ctx context.Context, opts Options) (*Store, error) {
	opts.Caps = core.Caps{}
	s, err := newStore(opts)
	if err != nil {
		return nil, err
	}
	r, err := s.beat(ctx, nil)
	if err == nil {
		err = s.adoptRegistered(r)
	}
	if err != nil {
		s.closeClient()
		return nil, err
	}
	return s, nil
}

func newStore(opts Options) (*Store, error) {
	if err := CheckKey(opts.Key); err != nil {
		return nil, err
	}
	name := Redact(opts.URL)
	if name == "" {
		name = "redis"
	}
	s := &Store{rdb: opts.Client, opts: opts, name: name, holds: map[string]hold{}, wake: make(chan struct{}, 1)}
	if s.rdb == nil {
		ro, err := ClientOptions(opts.URL, s.timeout())
		if err != nil {
			return nil, err
		}
		s.rdb, s.ownClient = redis.NewClient(ro), true
	}
	prefix := "costplan:{" + opts.Key + "}:"
	s.keys = []string{prefix + "state", prefix + "holds", prefix + "leases", prefix + "ids", prefix + "expiry"}
	s.channel = prefix + "events"
	s.warnAt = opts.Caps.WarnThreshold()
	if opts.AdminToken != "" {
		sum := sha256.Sum256([]byte(opts.AdminToken))
		s.admin = hex.EncodeToString(sum[:])
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	s.instance = hex.EncodeToString(b[:])
	s.log = opts.Logger
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.last = core.Snapshot{Session: opts.Caps.Session, PerCall: opts.Caps.PerCall, WarnAt: opts.Caps.WarnAt,
		Remaining: opts.Caps.Session}
	return s, nil
}

// Name is the store's URL without its password.
func (s *Store) Name() string { return s.name }

// Key is the budget's name.
func (s *Store) Key() string { return s.opts.Key }

// Ledger returns the ledger over s, the same one on every call. Besides the events
// of its own operations, its listeners hear EventLock when another process locks the
// shared budget: within Poll, and at once when Redis's pub/sub delivers the news.
func (s *Store) Ledger() *core.Ledger {
	s.ledgerOnce.Do(func() {
		l := core.NewLedger(s)
		s.mu.Lock()
		s.ledger = l
		s.mu.Unlock()
	})
	return s.ledger
}

// Close stops the background work, sends what is pending to Redis (until ctx ends)
// and closes the client Open dialled. Reservations still held are left to their
// leases.
func (s *Store) Close(ctx context.Context) error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	var err error
	if s.hasPending() {
		if _, err = s.beat(ctx, nil); err == nil {
			err = s.flush(ctx)
		}
		if err != nil {
			err = fmt.Errorf("budget store %s: %d settlements not sent: %w", s.name, s.pendingCount(), err)
		}
	}
	s.closeClient()
	return err
}

func (s *Store) closeClient() {
	if s.ownClient {
		_ = s.rdb.Close()
	}
}

func (s *Store) timeout() time.Duration { return orDefault(s.opts.Timeout, DefaultTimeout) }
func (s *Store) lease() time.Duration   { return orDefault(s.opts.Lease, DefaultLease) }
func (s *Store) poll() time.Duration    { return min(orDefault(s.opts.Poll, DefaultPoll), s.lease()/3) }
func (s *Store) remember() time.Duration {
	return orDefault(s.opts.Remember, DefaultRemember)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (s *Store) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// newID returns a reservation id unique across processes.
func (s *Store) newID() string {
	return s.instance + "-" + strconv.FormatUint(s.seq.Add(1), 36)
}

// register records this process's caps and admin token for operators.
func (s *Store) register(ctx context.Context) error {
	c := s.opts.Caps
	tz := ""
	if s.opts.Location != nil {
		tz = s.opts.Location.String()
	}
	r, err := s.run(ctx, registerScript, s.keys, money(c.Session), money(c.PerCall),
		strconv.FormatFloat(c.WarnAt, 'g', -1, 64), money(s.opts.Daily), money(s.opts.Monthly), tz, s.admin)
	if err != nil {
		return err
	}
	s.observe(r, 0)
	before := fmt.Sprint(r.rest[:6]...)
	if now := fmt.Sprint(money(c.Session), money(c.PerCall), strconv.FormatFloat(c.WarnAt, 'g', -1, 64),
		money(s.opts.Daily), money(s.opts.Monthly), tz); r.str(0) != "" && before != now {
		s.log.Warn("another process of this shared budget registered other caps; each process enforces its own",
			"budget_key", s.opts.Key)
	}
	if s.admin != "" && r.int(6) == 0 {
		s.log.Warn("another admin token is registered for this shared budget; resets need that one",
			"budget_key", s.opts.Key)
	}
	return nil
}

// start runs the heartbeat and the pub/sub watcher.
func (s *Store) start() {
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.loop()
	go s.watch()
}

func money(m core.Money) string { return strconv.FormatInt(int64(m), 10) }
