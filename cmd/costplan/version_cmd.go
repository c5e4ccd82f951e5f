package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"
)

// VersionCmd prints the version.
type VersionCmd struct{}

// Help is shown by `costplan version --help`.
func (VersionCmd) Help() string { return "Example:\n  costplan version --json" }

// Run prints the version, the Go version and the price table's date.
func (VersionCmd) Run(a *app, g *Globals) error {
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	cfg, err := g.load(a)
	if err != nil {
		return err
	}
	table, err := cfg.PriceTable(a.env, nil)
	if err != nil {
		return usageError{err}
	}
	if g.JSON {
		return json.NewEncoder(a.stdout).Encode(map[string]string{"version": v, "go": runtime.Version(), "prices_as_of": table.AsOf})
	}
	_, err = fmt.Fprintf(a.stdout, "costplan %s (%s, prices as of %s)\n", v, runtime.Version(), table.AsOf)
	return err
}
