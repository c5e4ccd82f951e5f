package wrap

import "fmt"

// PTYMode says when the child runs under a pseudo-terminal.
type PTYMode string

// The pseudo-terminal modes. The empty PTYMode means PTYAuto.
const (
	// PTYAuto uses a pseudo-terminal when the parent's stdin is a terminal.
	PTYAuto PTYMode = "auto"
	// PTYAlways uses a pseudo-terminal even when stdin is not a terminal.
	PTYAlways PTYMode = "always"
	// PTYNever runs the child with the parent's stdio as it is.
	PTYNever PTYMode = "never"
)

// ParsePTYMode parses "auto", "always" or "never". The empty string is
// PTYAuto.
func ParsePTYMode(s string) (PTYMode, error) {
	switch m := PTYMode(s); m {
	case "", PTYAuto:
		return PTYAuto, nil
	case PTYAlways, PTYNever:
		return m, nil
	}
	return "", fmt.Errorf("pty mode %q: want auto, always or never", s)
}

// UnmarshalText implements encoding.TextUnmarshaler with ParsePTYMode, for
// flags and configuration files.
func (m *PTYMode) UnmarshalText(text []byte) error {
	v, err := ParsePTYMode(string(text))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// String returns the mode's name; the empty mode is "auto".
func (m PTYMode) String() string {
	if m == "" {
		return string(PTYAuto)
	}
	return string(m)
}
