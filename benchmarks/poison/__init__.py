"""Poisoned rollouts: the content attacks on a SAPO swarm, and the node's defences against them (issue 25)."""
