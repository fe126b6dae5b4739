"""Scale-out: deciding the sale outside this process, for N stateless workers.

`redis_allocator.RedisAllocator` keeps one launch's counts in Redis and decides each claim
with one Lua script, exactly as the in-process `LaunchBook` decides it today.
"""
