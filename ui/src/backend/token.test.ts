import { describe, expect, it, vi } from "vitest";
import { ApiError } from "./apiError";
import { TOKEN_STORAGE_KEY, TokenSession, adoptTokenFromLocation, splitFragment, type StorageLike } from "./token";

function memoryStorage(initial: Record<string, string> = {}): StorageLike & { data: Map<string, string> } {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: (k) => data.get(k) ?? null,
    setItem: (k, v) => void data.set(k, v),
    removeItem: (k) => void data.delete(k),
  };
}

describe("splitFragment", () => {
  it.each([
    ["#token=abc", "abc", ""],
    ["#token=a%2Bb%3D", "a+b=", ""],
    ["#token=a+b/c=", "a+b/c=", ""],
    ["#/health?token=abc", "abc", "/health"],
    ["#/health?x=1&token=abc&y=2", "abc", "/health?x=1&y=2"],
    ["#/settings", null, "/settings"],
    ["#token=", null, ""],
    ["", null, ""],
  ])("%s", (hash, token, rest) => {
    expect(splitFragment(hash)).toEqual({ token, rest });
  });
});

describe("adoptTokenFromLocation", () => {
  it("stores the fragment token and strips it from the address bar", () => {
    const storage = memoryStorage();
    const replaceState = vi.fn();
    const t = adoptTokenFromLocation({ pathname: "/", search: "", hash: "#token=s3cret" }, { replaceState }, storage);
    expect(t).toBe("s3cret");
    expect(storage.data.get(TOKEN_STORAGE_KEY)).toBe("s3cret");
    expect(replaceState).toHaveBeenCalledWith(null, "", "/");
  });

  it("keeps the route and the query string", () => {
    const storage = memoryStorage();
    const replaceState = vi.fn();
    adoptTokenFromLocation({ pathname: "/ui/", search: "?a=1", hash: "#/health?token=t" }, { replaceState }, storage);
    expect(replaceState).toHaveBeenCalledWith(null, "", "/ui/?a=1#/health");
  });

  it("falls back to the token this tab already holds, leaving the URL alone", () => {
    const storage = memoryStorage({ [TOKEN_STORAGE_KEY]: "kept" });
    const replaceState = vi.fn();
    const t = adoptTokenFromLocation({ pathname: "/", search: "", hash: "#/fleet" }, { replaceState }, storage);
    expect(t).toBe("kept");
    expect(replaceState).not.toHaveBeenCalled();
  });

  it("returns null when there is no token anywhere", () => {
    const t = adoptTokenFromLocation({ pathname: "/", search: "", hash: "" }, { replaceState: vi.fn() }, memoryStorage());
    expect(t).toBeNull();
  });
});

describe("TokenSession", () => {
  it("keeps a token only after the node accepted it", async () => {
    const storage = memoryStorage();
    const verify = vi.fn(async (token: string) => {
      if (token !== "good") throw new ApiError(401, "unauthorized", "nope");
    });
    const s = new TokenSession(storage, null, verify);
    const changes = vi.fn();
    s.subscribe(changes);
    await expect(s.signIn("bad")).rejects.toMatchObject({ code: "unauthorized" });
    expect(s.state().signedIn).toBe(false);
    expect(storage.data.size).toBe(0);
    expect(changes).not.toHaveBeenCalled();

    await s.signIn("  good ");
    expect(verify).toHaveBeenLastCalledWith("good");
    expect(s.token()).toBe("good");
    expect(s.state()).toEqual({ signedIn: true, notice: null });
    expect(storage.data.get(TOKEN_STORAGE_KEY)).toBe("good");
    expect(changes).toHaveBeenCalledTimes(1);
  });

  it("forgets a rejected token and says why", () => {
    const storage = memoryStorage({ [TOKEN_STORAGE_KEY]: "old" });
    const s = new TokenSession(storage, "old", async () => undefined);
    s.reject("old");
    expect(s.state().signedIn).toBe(false);
    expect(s.state().notice).toMatch(/did not accept/);
    expect(storage.data.has(TOKEN_STORAGE_KEY)).toBe(false);
  });

  it("ignores a rejection of a token that is no longer the current one", () => {
    const s = new TokenSession(memoryStorage(), "new", async () => undefined);
    s.reject("old");
    expect(s.state().signedIn).toBe(true);
  });

  it("signs out without a notice, and state snapshots are stable between changes", () => {
    const s = new TokenSession(memoryStorage(), "t", async () => undefined);
    const a = s.state();
    expect(s.state()).toBe(a);
    s.signOut();
    expect(s.state()).toEqual({ signedIn: false, notice: null });
    expect(s.token()).toBeNull();
  });
});
