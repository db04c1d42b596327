import { Box, Text, useInput } from "ink";
import { useRef, useState } from "react";

/**
 * Type-to-confirm, for actions that can cost money: the operator types the word exactly and
 * presses Enter. Anything else, or Escape / Ctrl-C, cancels.
 */
export function TypeToConfirm({
  message,
  expected,
  onDone,
}: {
  message: string;
  expected: string;
  onDone: (confirmed: boolean) => void;
}) {
  const [typed, setTyped] = useState("");
  const [done, setDone] = useState<null | boolean>(null);
  // What was typed so far, outside React's batching: a paste arrives as one chunk ("live\r"), and
  // several chunks can arrive before a re-render.
  const buffer = useRef("");
  const finished = useRef(false);
  const finish = (ok: boolean) => {
    if (finished.current) return;
    finished.current = true;
    setDone(ok);
    onDone(ok);
  };
  useInput((input, key) => {
    if (finished.current) return;
    if (key.return) {
      finish(buffer.current === expected);
    } else if (key.escape || (key.ctrl && input === "c")) {
      finish(false);
    } else if (key.backspace || key.delete) {
      buffer.current = buffer.current.slice(0, -1);
      setTyped(buffer.current);
    } else if (!key.ctrl && !key.meta && input) {
      // A chunk holding Enter (a paste, a fast typist over ssh) is the word, then Enter.
      const enter = input.search(/[\r\n]/);
      buffer.current += stripPaste(enter === -1 ? input : input.slice(0, enter));
      setTyped(buffer.current);
      if (enter !== -1) finish(buffer.current === expected);
    }
  });
  return (
    <Box flexDirection="column">
      <Text color="yellow">{message}</Text>
      <Text>
        Type <Text bold>{expected}</Text> and press Enter to confirm (Esc cancels): <Text bold>{typed}</Text>
        {done === null ? <Text inverse> </Text> : null}
      </Text>
      {done === true ? <Text color="green">confirmed</Text> : null}
      {done === false ? <Text color="red">cancelled: nothing changed</Text> : null}
    </Box>
  );
}

/** Bracketed-paste markers (ESC [200~ … ESC [201~) that may arrive around a pasted word. */
function stripPaste(text: string): string {
  return text.split(String.fromCharCode(27)).join("").replaceAll("[200~", "").replaceAll("[201~", "");
}
