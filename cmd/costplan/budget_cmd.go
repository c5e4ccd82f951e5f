package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/costplan/costplan/core"
	"github.com/costplan/costplan/redisstore"
)

// BudgetCmd shows or resets a shared budget kept in Redis.
type BudgetCmd struct {
	Show  BudgetShowCmd  `cmd:"" help:"Print a shared budget: caps, spend, calls in flight, lock and windows."`
	Reset BudgetResetCmd `cmd:"" help:"Forget what a shared budget has spent and unlock it (needs the admin token)."`
}

// Help is shown by `costplan budget --help`.
func (BudgetCmd) Help() string {
	return `Operates on a budget that several CostPlan processes share through Redis
(costplan proxy, exec or run with --store and --budget-key). The caps shown are
those the metering processes registered; the windows are the shared daily and
monthly spend.

Examples:
  costplan budget show --store redis://cache:6379/0 --budget-key ci
  costplan budget show --store redis://cache:6379/0 --budget-key ci --json
  COSTPLAN_ADMIN_TOKEN=... costplan budget reset --store redis://cache:6379/0 --budget-key ci`
}

// budgetTarget names the shared budget.
type budgetTarget struct {
	Store     string `name:"store" placeholder:"URL" help:"The shared store, redis://[user:pass@]host:port/db or rediss:// (also COSTPLAN_STORE, [store] url)."`
	BudgetKey string `name:"budget-key" placeholder:"NAME" help:"The shared budget's name (also [store] budget_key)."`
}

// open connects to the shared budget for an operator.
func (b budgetTarget) open(a *app, cfg *Config, token string) (*redisstore.Store, error) {
	if b.Store != "" {
		cfg.Store.URL = b.Store
	}
	if b.BudgetKey != "" {
		cfg.Store.BudgetKey = b.BudgetKey
	}
	if err := cfg.Store.validate(); err != nil {
		return nil, usageError{err}
	}
	if !cfg.Store.shared() {
		return nil, usageError{errors.New("costplan budget works on a shared budget: set --store redis://host:port/db (or COSTPLAN_STORE, [store] url)")}
	}
	if cfg.Store.BudgetKey == "" {
		return nil, usageError{errors.New("name the shared budget with --budget-key NAME (or [store] budget_key)")}
	}
	quietRedis(slog.New(slog.DiscardHandler))
	return redisstore.OpenAdmin(a.ctx, redisstore.Options{URL: cfg.Store.URL, Key: cfg.Store.BudgetKey, AdminToken: token})
}

// BudgetShowCmd prints a shared budget.
type BudgetShowCmd struct {
	budgetTarget `embed:""`
}

// budgetView is `costplan budget show --json`.
type budgetView struct {
	BudgetKey string `json:"budget_key"`
	Store     string `json:"store"`
	core.Snapshot
	Windows []windowView `json:"windows,omitempty"`
}

type windowView struct {
	Name      core.Limit `json:"name"`
	Cap       core.Money `json:"cap_usd"`
	Spent     core.Money `json:"spent_usd"`
	Remaining core.Money `json:"remaining_usd"`
	ResetsAt  time.Time  `json:"resets_at"`
}

// Run prints the budget.
func (c *BudgetShowCmd) Run(a *app, g *Globals) error {
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	st, err := c.open(a, cfg, "")
	if err != nil {
		return err
	}
	defer st.Close(a.ctx)
	v, err := view(a, st)
	if err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(a.stdout, v)
	}
	return v.print(a.stdout)
}

func view(a *app, st *redisstore.Store) (budgetView, error) {
	snap, err := st.Snapshot(a.ctx)
	if err != nil {
		return budgetView{}, err
	}
	ws, err := st.Windows(a.ctx)
	if err != nil {
		return budgetView{}, err
	}
	v := budgetView{BudgetKey: st.Key(), Store: st.Name(), Snapshot: snap}
	for _, w := range ws {
		v.Windows = append(v.Windows, windowView{Name: w.Name, Cap: w.Cap, Spent: w.Spent,
			Remaining: w.Left(snap.Reserved), ResetsAt: w.ResetsAt})
	}
	return v, nil
}

func (v budgetView) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "budget key\t%s\n", v.BudgetKey)
	fmt.Fprintf(tw, "store\t%s\n", v.Store)
	if v.Session == 0 {
		fmt.Fprintf(tw, "caps\tnone registered yet (no process has metered against this budget)\n")
	} else {
		caps := v.Session.String() + " per session"
		if v.PerCall > 0 {
			caps += ", " + v.PerCall.String() + " per call"
		}
		if v.WarnAt > 0 {
			caps += fmt.Sprintf(", warning at %g%%", 100*v.WarnAt)
		}
		fmt.Fprintf(tw, "caps\t%s\n", caps)
	}
	fmt.Fprintf(tw, "spent\t%s in %d calls, %d refused\n", v.Spent, v.Calls, v.Refused)
	fmt.Fprintf(tw, "in flight\t%d calls holding %s\n", v.InFlight, v.Reserved)
	fmt.Fprintf(tw, "remaining\t%s\n", v.Remaining)
	for _, win := range v.Windows {
		fmt.Fprintf(tw, "%s\t%s of %s, resets %s\n", win.Name, win.Spent, win.Cap, win.ResetsAt.Format("2006-01-02 15:04 MST"))
	}
	state := "open"
	if v.Locked {
		state = "locked: " + v.LockReason
	}
	fmt.Fprintf(tw, "state\t%s\n", state)
	if v.Violations > 0 {
		fmt.Fprintf(tw, "violations\t%d calls cost %s more than they reserved\n", v.Violations, v.ViolationAmount)
	}
	return tw.Flush()
}

// BudgetResetCmd resets a shared budget.
type BudgetResetCmd struct {
	budgetTarget `embed:""`
	AdminToken   string `name:"admin-token" placeholder:"TOKEN" help:"The admin token registered for the budget (also COSTPLAN_ADMIN_TOKEN, [proxy] admin_token)."`
}

// Run resets the budget and prints it.
func (c *BudgetResetCmd) Run(a *app, g *Globals) error {
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	token := c.AdminToken
	if token == "" {
		token = cfg.Proxy.AdminToken
	}
	if token == "" {
		return usageError{errors.New("costplan budget reset needs the admin token: --admin-token TOKEN or COSTPLAN_ADMIN_TOKEN")}
	}
	st, err := c.open(a, cfg, token)
	if err != nil {
		return err
	}
	defer st.Close(a.ctx)
	if _, err := st.Reset(a.ctx); err != nil {
		return err
	}
	v, err := view(a, st)
	if err != nil {
		return err
	}
	if g.JSON {
		return writeJSON(a.stdout, v)
	}
	fmt.Fprintf(a.stdout, "budget %q reset: its spend is forgotten and it is unlocked; calls in flight keep their reservations\n", v.BudgetKey)
	return v.print(a.stdout)
}
