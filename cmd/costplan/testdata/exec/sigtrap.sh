# sigtrap.sh: a child that traps INT, TERM, HUP and QUIT, writes the name of the
# signal it got to $EXEC_MARKERS/got and exits 42. It writes
# $EXEC_MARKERS/ready once the traps are in place.
dir=$EXEC_MARKERS
for s in INT TERM HUP QUIT; do
	trap "echo $s >\"$dir/got\"; exit 42" "$s"
done
echo ready >"$dir/ready"
while :; do sleep 0.05; done
