# caller.sh: a child for `costplan exec` that calls the Anthropic Messages API
# through $ANTHROPIC_BASE_URL until a call is refused, then does what $1 says:
#
#   wait    wait to be stopped; a TERM writes the marker $EXEC_MARKERS/term
#   ignore  ignore TERM (set from the start) and sleep, to be killed
#   more    make two more calls, print their statuses and exit 3
#   once    (instead) make one call and exit 0
#
# It prints "session ID", then "call N: STATUS" for every call.
dir=$EXEC_MARKERS
mode=$1
case "$mode" in
ignore) trap '' TERM ;;
*) trap 'echo TERM > "$dir/term"; exit 0' TERM ;;
esac
call() {
	curl -sS -o /dev/null -w '%{http_code}' -X POST "$ANTHROPIC_BASE_URL/v1/messages" \
		-H 'content-type: application/json' -H 'x-api-key: test-key' -H 'anthropic-version: 2023-06-01' \
		-d '{"model":"claude-haiku-4-5","max_tokens":2000,"messages":[{"role":"user","content":"hi"}]}'
}
echo "session $COSTPLAN_SESSION"
n=0
while :; do
	n=$((n + 1))
	code=$(call)
	echo "call $n: $code"
	[ "$mode" = once ] && exit 0
	[ "$code" = 429 ] && break
	[ "$n" -ge 20 ] && exit 4 # never refused
done
echo refused >"$dir/refused"
case "$mode" in
more)
	n=$((n + 1)); echo "call $n: $(call)"
	n=$((n + 1)); echo "call $n: $(call)"
	exit 3
	;;
esac
while :; do sleep 0.05; done
