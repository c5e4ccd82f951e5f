package wrap

import (
	"context"
	"os"
	"os/exec"
	"testing"
)

// BenchmarkStartTrue compares running `true` through Start and Wait with
// running it through os/exec alone; the ratio of the two is the overhead of
// the supervision.
func BenchmarkStartTrue(b *testing.B) {
	b.Run("exec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, mode := range []PTYMode{PTYNever, PTYAlways} {
		b.Run("wrap-"+string(mode), func(b *testing.B) {
			if mode == PTYAlways {
				needPTY(b)
			}
			stdin := devNull(b)
			out, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer out.Close()
			for b.Loop() {
				c, err := Start(context.Background(), Options{
					Argv: []string{"true"}, PTY: mode, Stdin: stdin, Stdout: out, Stderr: out,
				})
				if err != nil {
					b.Fatal(err)
				}
				if st, err := c.Wait(); err != nil || st.Code != 0 {
					b.Fatalf("got %+v, %v", st, err)
				}
			}
		})
	}
}
