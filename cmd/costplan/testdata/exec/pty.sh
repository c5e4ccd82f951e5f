# pty.sh: a child for `costplan exec` under a terminal. It reports whether its
# stdin and stdout are terminals and their size, echoes one line of input, then
# waits for SIGWINCH, prints the new size and exits 3.
if test -t 0; then echo "stdin: tty"; else echo "stdin: not a tty"; fi
if test -t 1; then echo "stdout: tty"; else echo "stdout: not a tty"; fi
echo "size: $(stty size)"
trap 'echo "resized: $(stty size)"; exit 3' WINCH
echo "type a line"
read -r line
echo "read: $line"
echo ready
while :; do sleep 0.05; done
