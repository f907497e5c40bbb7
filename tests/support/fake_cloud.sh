#!/bin/sh
# A stand-in cloud for the managed clusters' `command` provider: "machines" are network
# namespaces on a bridge the test made, running slurmd with the cluster's slurm.conf.
#   fake_cloud.sh start NODE SLURM_CONF BRIDGE SUBNET INDEX   -> prints the node's IP last
#   fake_cloud.sh stop NODE
# Root only. What a real cloud's CLI would do: boot a machine that runs `slurmd -N NODE`.
set -eu
action=$1 node=$2
ns="fakecloud-$node"
case "$action" in
start)
  conf=$3 bridge=$4 subnet=$5 index=$6
  ip="$subnet.$((100 + index))"
  veth="fcc$(printf '%s' "$ns" | cksum | cut -c1-8)"
  echo "booting $node at $ip"
  ip netns add "$ns"
  ip link add "$veth" type veth peer name eth0 netns "$ns"
  ip link set "$veth" master "$bridge" up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
  # The cloud's DNS: the machine resolves its own name (srun and MASTER_ADDR use node names).
  hosts="/tmp/$ns.hosts"
  { cat /etc/hosts; echo "$ip $node"; } >"$hosts"
  setsid nsenter --net="/run/netns/$ns" unshare --mount --propagation private \
    sh -c 'mount --bind "$1" /etc/hosts && exec /usr/sbin/slurmd -D -f "$2" -N "$3"' fake-machine "$hosts" "$conf" "$node" \
    </dev/null >"/tmp/$ns.log" 2>&1 &
  echo "$ip"
  ;;
stop)
  if [ -e "/run/netns/$ns" ]; then
    for p in $(ip netns pids "$ns"); do kill -9 "$p" 2>/dev/null || true; done
    sleep 0.2
    ip netns del "$ns"
  fi
  rm -f "/tmp/$ns.hosts"
  ;;
esac
