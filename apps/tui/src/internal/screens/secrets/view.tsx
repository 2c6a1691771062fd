// SPDX-License-Identifier: AGPL-3.0-only
import type { ReactElement } from 'react';
import { Box, Text } from 'ink';
import type { DotenvImport } from '../../../types.ts';
import { Confirm, MaskedInput, TextField } from '../../fields.tsx';
import { canImport } from '../../util.ts';
import { passphraseLabel, secretsTable, type SecretsMode } from './state.ts';
import { useSecrets, type SecretsModel } from './use-secrets.ts';

/**
 * Names with created / updated / last used (from the audit log); add, delete and import, each
 * asking the passphrase once.
 */
export function Secrets(): ReactElement {
  return <SecretsView {...useSecrets()} />;
}

/** The secrets screen drawn from its model: the table, then the open prompt and the note. */
function SecretsView(model: SecretsModel): ReactElement {
  const { list, mode, note, seq } = model.state;
  const table = secretsTable(model.state, model.rows, model.compact);
  return (
    <Box flexDirection="column">
      {list === null ? (
        <Text dimColor>Secrets are listed while the service is unlocked (Dashboard: u).</Text>
      ) : list.length === 0 ? (
        <Text dimColor>No secrets yet. a adds one, i imports a .env file.</Text>
      ) : (
        <Box flexDirection="column">
          <Text bold>{table.header}</Text>
          {table.rows.map((row) => (
            <Text key={row.name} inverse={row.selected}>
              {row.text}
            </Text>
          ))}
        </Box>
      )}
      <Box marginTop={1} flexDirection="column">
        {/* Keyed by the prompt: each is a new field, so a masked one captures afresh. */}
        <Prompt key={seq} mode={mode} model={model} />
        {note === '' ? null : <Text>{note}</Text>}
      </Box>
    </Box>
  );
}

function Prompt({ mode, model }: { mode: SecretsMode; model: SecretsModel }): ReactElement | null {
  const back = (): void => {
    model.cancel('cancel');
  };
  // One passphrase prompt, whichever request it is for (see pendingRequest).
  const label = passphraseLabel(mode);
  if (label !== null) {
    return (
      <MaskedInput label={label} kind="passphrase" onCancel={model.cancel} onSubmit={model.passphrase} />
    );
  }
  switch (mode.kind) {
    case 'name':
      return <TextField label="Name of the new secret:" onCancel={back} onSubmit={model.name} />;
    case 'value':
      return (
        <MaskedInput
          label={`Value for ${mode.name} (hidden):`}
          kind="value"
          onCancel={model.cancel}
          onSubmit={model.value}
        />
      );
    case 'confirm-delete':
      return (
        <Confirm
          question={`Delete ${mode.name}?`}
          onNo={() => {
            model.deleteAnswer(false);
          }}
          onYes={() => {
            model.deleteAnswer(true);
          }}
        />
      );
    case 'import-path':
      return <TextField label="Path of the .env file:" onCancel={back} onSubmit={model.importPath} />;
    case 'import-preview':
      return <ImportPreview parsed={mode.parsed} answer={model.importAnswer} />;
    default:
      return null;
  }
}

function ImportPreview(props: { parsed: DotenvImport; answer: (yes: boolean) => void }): ReactElement {
  const { parsed } = props;
  const yes = (): void => {
    props.answer(true);
  };
  const no = (): void => {
    props.answer(false);
  };
  if (!canImport(parsed)) {
    return (
      <Box flexDirection="column">
        {parsed.problems.map((p) => (
          <Text key={p}>{p}</Text>
        ))}
        <Confirm
          question={
            parsed.names.length === 0
              ? 'Nothing to import. Back?'
              : 'The file has problems; nothing will be imported. Back?'
          }
          onYes={no}
          onNo={no}
        />
      </Box>
    );
  }
  return (
    <Box flexDirection="column">
      <Text>
        {parsed.names.length} secret(s): <Text bold>{parsed.names.join(', ')}</Text>
      </Text>
      <Confirm question="Import them?" onYes={yes} onNo={no} />
    </Box>
  );
}
