/*
 * The on-complete command's URL (src/daemon/on-complete.ts): the first http(s) URL it printed, without
 * the punctuation a sentence puts after it; none when it printed none.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { firstUrl } from "../../src/daemon/on-complete";

describe("the result URL", () => {
  it("is the first http(s) URL printed, without trailing punctuation", () => {
    assert.equal(firstUrl("Creating pull request...\nhttps://github.com/o/r/pull/12\nhttps://other.test/x\n"), "https://github.com/o/r/pull/12");
    assert.equal(firstUrl("Opened (https://example.test/pulls/7)."), "https://example.test/pulls/7");
    assert.equal(firstUrl('url="http://ci.test/build/9?x=1"'), "http://ci.test/build/9?x=1");
  });

  it("is null when nothing looks like one, or it is too long to record", () => {
    assert.equal(firstUrl("done\nftp://example.test/x\n"), null);
    assert.equal(firstUrl(`https://example.test/${"a".repeat(3000)}`), null);
  });
});
