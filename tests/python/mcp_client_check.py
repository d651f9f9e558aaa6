"""Drives the codexd-mcp shim with the official Python MCP SDK (mcp 2.3.0).

Run by tests/tests/mcp_python.rs, which installs the SDK into a venv, starts codexd and the
scripted model server, and passes everything this script needs as one JSON argument:

    python mcp_client_check.py '{"shim": ..., "socket": ..., "codex_home": ..., "root": ...,
                                  "work": ..., "model": ..., "config": [...]}'

The client runs in ``mode="legacy"`` (the initialize handshake), which is what Claude Code
speaks to stdio servers. The SDK validates every structured result against the tool's
``outputSchema`` itself, so each successful call here also checks the schemas. Exits 0 when
every check passed (printing how many), 1 otherwise (printing the failed check).
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from contextlib import asynccontextmanager
from typing import Any

import anyio
import jsonschema
import mcp.types as types
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

CHECKS: list[str] = []


def check(condition: bool, what: str, detail: Any = "") -> None:
    """Records a passed check, or fails the run with what was expected and what was seen."""
    if not condition:
        raise AssertionError(f"{what}: {detail}")
    CHECKS.append(what)


def server_params(cfg: dict[str, Any]) -> StdioServerParameters:
    # Started in the temp root, not the work dir: the client's root decides the cwd.
    return StdioServerParameters(
        command=cfg["shim"],
        args=["--socket", cfg["socket"], "--no-autostart"],
        env={"CODEX_HOME": cfg["codex_home"], "RUST_LOG": "codexd_mcp=debug,info"},
        cwd=cfg["root"],
    )


def start_args(cfg: dict[str, Any], prompt: str) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "model": cfg["model"],
        "sandbox": "workspace-write",
        "config": cfg["config"],
    }


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def ok(result: types.CallToolResult, what: str) -> dict[str, Any]:
    check(not result.is_error, f"{what} succeeds", text_of(result))
    check(isinstance(result.structured_content, dict), f"{what} has structured content")
    return result.structured_content  # type: ignore[return-value]


async def wait_done(client: Client, ids: list[str], progress=None) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while True:
        reply = ok(
            await client.call_tool("codex_wait", {"task_ids": ids}, progress_callback=progress),
            "codex_wait",
        )
        if reply["done"]:
            return reply
        check(time.monotonic() < deadline, "tasks end in time", reply)


def roots_callback(cfg: dict[str, Any]):
    async def list_roots(_context: Any) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{cfg['work']}")])

    return list_roots


async def main_flow(cfg: dict[str, Any]) -> None:
    async with Client(
        server_params(cfg), mode="legacy", list_roots_callback=roots_callback(cfg)
    ) as client:
        listed = await client.list_tools()
        names = sorted(t.name for t in listed.tools)
        check(
            names
            == [
                "codex_apply",
                "codex_cancel",
                "codex_compare",
                "codex_diff",
                "codex_discard",
                "codex_list",
                "codex_result",
                "codex_resume",
                "codex_review",
                "codex_start",
                "codex_status",
                "codex_wait",
            ],
            "tools/list has the twelve tools",
            names,
        )
        for tool in listed.tools:
            jsonschema.Draft202012Validator.check_schema(tool.input_schema)
            check(tool.input_schema.get("type") == "object", f"{tool.name} input is an object")
            check(tool.output_schema is not None, f"{tool.name} has an output schema")
            jsonschema.Draft202012Validator.check_schema(tool.output_schema)
            check(
                tool.annotations is not None and tool.annotations.read_only_hint is not None,
                f"{tool.name} is annotated",
            )

        # start -> wait (with progress) -> result
        started = ok(
            await client.call_tool("codex_start", start_args(cfg, "[py-flow] write py.txt")),
            "codex_start",
        )
        task_id = started["task_id"]
        check(started["cwd"] == cfg["work"], "cwd is the client root", started)
        check("client root" in started["cwd_chosen"], "cwd_chosen says so", started)
        check(f"wait {task_id}" in started["wait_command"], "wait_command names the task")

        messages: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            if message:
                messages.append(message)

        done = await wait_done(client, [task_id], on_progress)
        task = done["tasks"][0]
        check(task["state"] == "succeeded", "the task succeeded", done)
        check(len(task["thread_id"] or "") == 36, "it has a thread id", task)
        check(messages and all(task_id in m for m in messages), "progress names the task", messages)
        check(any("running `sleep 2`" in m for m in messages), "progress shows the command", messages)

        result = ok(await client.call_tool("codex_result", {"task_id": task_id}), "codex_result")
        summary = result["summary"]
        check(summary["final_message"] == "python flow done", "final message", summary)
        check(
            summary["files_changed"] == [{"path": "py.txt", "kind": "add"}],
            "files changed",
            summary,
        )
        events = ok(
            await client.call_tool(
                "codex_result", {"task_id": task_id, "section": "events", "offset": 0}
            ),
            "codex_result events",
        )
        check(
            any(e["text"].startswith("thread ") for e in events["events"]),
            "events are rendered",
            events,
        )

        # An unknown task is a tool error with a clear sentence.
        unknown = await client.call_tool("codex_result", {"task_id": "zzzzzzzz"})
        check(unknown.is_error is True, "unknown task is an error")
        check(text_of(unknown).startswith("Unknown task: no task zzzzzzzz"), "clear", text_of(unknown))
        bad_cwd = await client.call_tool(
            "codex_start", {"prompt": "x", "cwd": "/definitely/not/here"}
        )
        check(bad_cwd.is_error is True and "/definitely/not/here" in text_of(bad_cwd), "bad cwd")

        # cancel a long task once its command runs
        long = ok(
            await client.call_tool("codex_start", start_args(cfg, "[py-long] forever")),
            "codex_start long",
        )
        long_id = long["task_id"]
        deadline = time.monotonic() + 90
        while True:
            look = ok(
                await client.call_tool(
                    "codex_wait", {"task_ids": [long_id], "timeout_seconds": 2}
                ),
                "short codex_wait",
            )
            check(look["done"] is False, "a short wait is still running", look)
            if look["tasks"][0].get("activity") == "running `sleep 4545`":
                break
            check(time.monotonic() < deadline, "the long command starts", look)
        cancelled = ok(
            await client.call_tool("codex_cancel", {"task_id": long_id}), "codex_cancel"
        )
        check(cancelled["task"]["state"] == "cancelled", "cancelled", cancelled)

        # resume by thread id
        resumed = ok(
            await client.call_tool(
                "codex_resume", {"thread_id": task["thread_id"], "prompt": "[py-more] go on"}
            ),
            "codex_resume",
        )
        check(resumed["parent"] == task_id, "resumed the thread's newest task", resumed)
        more = await wait_done(client, [resumed["task_id"]])
        check(more["tasks"][0]["answer"] == "more from python", "resumed answer", more)
        check(more["tasks"][0]["thread_id"] == task["thread_id"], "same thread", more)


@asynccontextmanager
async def recording_stdio(params: StdioServerParameters, wire: list[dict[str, Any]]):
    """stdio_client, with every message from the server recorded in arrival order."""
    async with stdio_client(params) as (read_stream, write_stream):
        send, receive = anyio.create_memory_object_stream(1000)

        async def forward() -> None:
            async with send:
                async for item in read_stream:
                    if not isinstance(item, Exception):
                        wire.append(item.message.model_dump(by_alias=True, mode="json"))
                    await send.send(item)

        async with anyio.create_task_group() as group:
            group.start_soon(forward)
            yield receive, write_stream
            group.cancel_scope.cancel()


async def wire_order(cfg: dict[str, Any]) -> None:
    """No progress notification of a call after that call's response, on the wire."""
    wire: list[dict[str, Any]] = []
    async with Client(
        recording_stdio(server_params(cfg), wire),
        mode="legacy",
        list_roots_callback=roots_callback(cfg),
    ) as client:
        started = ok(
            await client.call_tool("codex_start", start_args(cfg, "[py-order] wait")),
            "codex_start order",
        )
        seen: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(message or "")

        await wait_done(client, [started["task_id"]], on_progress)
        await anyio.sleep(1.5)
        check(bool(seen), "progress was received", seen)
        progress = [
            (i, m["params"]["progressToken"])
            for i, m in enumerate(wire)
            if m.get("method") == "notifications/progress"
        ]
        check(bool(progress), "progress is on the wire")
        for index, token in progress:
            responses = [
                i for i, m in enumerate(wire) if "method" not in m and m.get("id") == token
            ]
            check(len(responses) == 1, "the call answered once", token)
            check(index < responses[0], "progress precedes its response", (index, responses))


async def main() -> int:
    cfg = json.loads(sys.argv[1])
    try:
        await main_flow(cfg)
        await wire_order(cfg)
    except Exception:  # noqa: BLE001 - report any failure, then fail the run
        traceback.print_exc()
        print(f"mcp_client_check: FAILED after {len(CHECKS)} checks")
        return 1
    print(f"mcp_client_check: all {len(CHECKS)} checks ok")
    return 0


if __name__ == "__main__":
    sys.exit(anyio.run(main))
