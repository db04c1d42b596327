// What scores the headlines, as the operator sees it: sortation's heartbeat read back and described
// in the same words by `opsctl status`, the dev dashboard and `recs show`. Commands reach a stage's
// reports through this floor (test/architecture/floors.ts), never the stage's files.
export {
  type ClassifierStatus,
  describeClassifier,
  readClassifierStatus,
} from "../sortation/classifier-status.ts";
