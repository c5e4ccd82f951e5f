// Command costplan is a budget circuit breaker for LLM API spend: it puts a hard
// dollar ceiling on one call and on one session, enforced before money is spent.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses of CostPlan itself; exec otherwise returns its child's status.
const (
	exitOK         = 0
	exitFailure    = 1
	exitUsage      = 2
	exitBudgetStop = 99
)

// exitError carries an exit status out of a command without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks errors in the command line or configuration (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// app is what every command receives: the process's streams and environment.
type app struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	env    func(string) string
	// environ is the whole environment, for a child's.
	environ func() []string
}

// stdinFile returns stdin as a file when it is one (a terminal can only be a file).
func (a *app) stdinFile() *os.File {
	if f, ok := a.stdin.(*os.File); ok {
		return f
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C stops at once
	}()
	code := run(ctx, os.Args[1:], &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, env: os.Getenv, environ: os.Environ})
	stop()
	os.Exit(code)
}

// kongExit is raised through panic by kong's exit hook (after --help) and recovered
// in run, so that run never calls os.Exit itself.
type kongExit int

// run parses args, runs the command and returns the exit status.
func run(ctx context.Context, args []string, a *app) (code int) {
	a.ctx = ctx
	var cli CLI
	parser, err := kong.New(&cli,
		kong.Name("costplan"),
		kong.Description("A hard dollar ceiling on LLM API spend, per call and per session, enforced before money is spent."),
		kong.UsageOnError(),
		kong.Writers(a.stdout, a.stderr),
		kong.Exit(func(c int) { panic(kongExit(c)) }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": version},
		kong.Bind(a),
	)
	if err != nil {
		fmt.Fprintf(a.stderr, "costplan: %v\n", err)
		return exitFailure
	}
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(kongExit)
			if !ok {
				panic(r)
			}
			code = int(c)
			if code == 80 || code == 1 && len(args) > 0 {
				code = exitUsage
			}
		}
	}()
	kctx, err := parser.Parse(args)
	if err != nil {
		fmt.Fprintf(a.stderr, "costplan: %v\n", err)
		help := "costplan --help"
		if pe := (*kong.ParseError)(nil); errors.As(err, &pe) && pe.Context != nil && pe.Context.Command() != "" {
			help = "costplan " + strings.Fields(pe.Context.Command())[0] + " --help"
		}
		fmt.Fprintf(a.stderr, "run '%s' for usage\n", help)
		return exitUsage
	}
	err = kctx.Run(&cli.Globals)
	return exitCode(a, err)
}

// exitCode prints err and maps it to an exit status.
func exitCode(a *app, err error) int {
	var ee exitError
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "costplan: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(a.stderr, "costplan: %v\n", err)
		return exitFailure
	}
}
