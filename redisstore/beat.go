package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/costplan/costplan/core"
)

// loop renews leases, reads the shared state and recovers from failures, every Poll
// and whenever poked.
func (s *Store) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.poll())
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
		s.tick(s.ctx)
	}
}

// poke asks the loop for a heartbeat now.
func (s *Store) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// watch pokes the loop whenever a process publishes a lock or a reset. go-redis
// resubscribes after a lost connection; the heartbeat covers what is missed.
func (s *Store) watch() {
	defer s.wg.Done()
	ps := s.rdb.Subscribe(s.ctx, s.channel)
	defer ps.Close()
	ch := ps.Channel()
	for {
		select {
		case <-s.ctx.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			s.poke()
		}
	}
}

// tick is one heartbeat: renew, recover, and tell the ledger of a shared lock.
func (s *Store) tick(ctx context.Context) {
	r, err := s.beat(ctx, s.remoteIDs())
	if err != nil {
		s.failed(ctx, err)
		return
	}
	if err := s.flush(ctx); err != nil {
		s.failed(ctx, err)
		return
	}
	s.recovered()
	s.tell(ctx, r)
}

// remoteIDs are the ids of this process's reservations held in Redis.
func (s *Store) remoteIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.holds))
	for id, h := range s.holds {
		if h.local == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// beat renews the leases of ids and reads the whole shared state into last.
func (s *Store) beat(ctx context.Context, ids []string) (reply, error) {
	args := make([]any, 0, 2+len(ids))
	args = append(args, s.lease().Milliseconds(), s.remember().Milliseconds())
	for _, id := range ids {
		args = append(args, id)
	}
	r, err := s.run(ctx, beatScript, s.keysWith(s.windows(s.now())), args...)
	if err != nil {
		return r, err
	}
	s.note(r)
	s.mu.Lock()
	s.last.Calls, s.last.Refused, s.last.Violations = r.int(0), r.int(1), r.int(2)
	s.last.ViolationAmount, s.last.InFlight = r.money(3), r.int(4)
	s.lastWindows = s.lastWindows[:0]
	for i := 12; i < len(r.rest); i++ {
		s.lastWindows = append(s.lastWindows, r.money(i))
	}
	s.mu.Unlock()
	return r, nil
}

// tell delivers a lock made by another process to the ledger's listeners, through
// Ledger.Lock, which returns EventLock for a lock this process has not announced.
func (s *Store) tell(ctx context.Context, r reply) {
	s.mu.Lock()
	l := s.ledger
	due := r.locked && r.lockSeq > s.lockTold && l != nil
	s.mu.Unlock()
	if due {
		if err := l.Lock(ctx, r.reason); err != nil {
			s.log.Warn("announce the shared lock", "err", err)
		}
	}
}

// note records the shared state of r.
func (s *Store) note(r reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last.Spent, s.last.Reserved = r.spent, r.reserved
	s.last.Remaining = s.remaining(r)
	s.last.Locked, s.last.Warned, s.last.LockReason = r.locked, r.warned, ""
	if r.locked {
		s.last.LockReason = r.reason
	}
}

// observe records the state of an operation's reply and returns ev plus the lock
// and the warning this process has not announced yet: each process announces every
// shared lock, and the warning of every epoch, once, whoever caused them.
func (s *Store) observe(r reply, ev core.EventKind) core.EventKind {
	s.note(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.locked && r.lockSeq > s.lockTold {
		s.lockTold = r.lockSeq
		ev |= core.EventLock
	}
	if r.warned && r.epoch+1 > s.warnTold {
		s.warnTold = r.epoch + 1
		ev |= core.EventWarn
	}
	return ev
}

// adoptRegistered takes the caps and windows that metering processes registered,
// for an operator's store. A time zone this machine cannot load is an error: the
// windows would otherwise be read for the wrong days.
func (s *Store) adoptRegistered(r reply) error {
	num := func(i int) core.Money {
		n, _ := strconv.ParseInt(r.str(i), 10, 64)
		return core.Money(n)
	}
	warn, _ := strconv.ParseFloat(r.str(8), 64)
	s.opts.Caps = core.Caps{Session: num(6), PerCall: num(7), WarnAt: warn}
	s.opts.Daily, s.opts.Monthly = num(9), num(10)
	if tz := r.str(11); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			return fmt.Errorf("budget store %s: budget key %s counts its windows in time zone %q, which cannot be loaded here: %w",
				s.name, s.opts.Key, tz, err)
		}
		s.opts.Location = loc
	}
	s.mu.Lock()
	s.last.Session, s.last.PerCall, s.last.WarnAt = s.opts.Caps.Session, s.opts.Caps.PerCall, s.opts.Caps.WarnAt
	s.last.Remaining = max(s.opts.Caps.Session-s.last.Spent-s.last.Reserved, 0)
	s.mu.Unlock()
	return nil
}
