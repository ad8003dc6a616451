// Free text that reaches Nix, Caddy, systemd or a shell. NUL cannot be held by a Nix string, control
// characters end lines and tokens or hide in logs, and lone surrogates have no UTF-8 form; each is refused
// here with its position, so no renderer ever has to throw on user text.
import { z } from "zod";

// The first refused character, found by one scan of the text (a test per character made host files the
// slowest part of validating a host).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROL_BUT_NEWLINE_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function codePoint(c: string): string {
  return "U+" + c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
}

/** What is wrong with the text, or undefined; `multiline` admits newlines and tabs. */
export function textProblem(s: string, multiline: boolean): string | undefined {
  const bad = (multiline ? CONTROL_BUT_NEWLINE_TAB : CONTROL).exec(s);
  if (bad) {
    const allowed = multiline ? "only newlines and tabs are allowed" : "it must be one line of printable text";
    return `contains the control character ${codePoint(bad[0])} at position ${bad.index}: ${allowed} (fix: remove it)`;
  }
  const m = LONE_SURROGATE.exec(s);
  if (m) return `contains a lone UTF-16 surrogate at position ${m.index}, which has no UTF-8 form (fix: remove it)`;
  return undefined;
}

function checked(base: z.ZodString, multiline: boolean) {
  return base.superRefine((s, ctx) => {
    const problem = textProblem(s, multiline);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}

/** One line of printable text. */
export function line(typeMessage = "must be a string (fix: give text)") {
  return checked(z.string(typeMessage), false);
}

/** Printable text over several lines (newlines and tabs allowed). */
export function multiline(typeMessage = "must be a string (fix: give text)") {
  return checked(z.string(typeMessage), true);
}
