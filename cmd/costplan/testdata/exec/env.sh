# env.sh: a child that prints the variables costplan sets for it, whether the
# admin token reached it, the proxy's budget and the status of a budget reset
# it attempts with the token given as $1.
echo "ANTHROPIC_BASE_URL=${ANTHROPIC_BASE_URL-unset}"
echo "OPENAI_BASE_URL=${OPENAI_BASE_URL-unset}"
echo "COSTPLAN_URL=${COSTPLAN_URL-unset}"
echo "COSTPLAN_SESSION=${COSTPLAN_SESSION-unset}"
echo "COSTPLAN_ADMIN_TOKEN=${COSTPLAN_ADMIN_TOKEN-unset}"
echo "budget=$(curl -sS "$COSTPLAN_URL/v1/budget")"
echo "reset=$(curl -sS -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $1" "$COSTPLAN_URL/v1/budget/reset")"
