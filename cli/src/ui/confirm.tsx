import { Box, Text, useInput } from "ink";
import { useState } from "react";

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
  useInput((input, key) => {
    if (done !== null) return;
    if (key.return) {
      const ok = typed === expected;
      setDone(ok);
      onDone(ok);
    } else if (key.escape || (key.ctrl && input === "c")) {
      setDone(false);
      onDone(false);
    } else if (key.backspace || key.delete) {
      setTyped((value) => value.slice(0, -1));
    } else if (!key.ctrl && !key.meta && input) {
      setTyped((value) => value + input);
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
