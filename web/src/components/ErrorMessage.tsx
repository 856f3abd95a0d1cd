/** The API's message for a failed action, announced to screen readers. */
export function ErrorMessage(props: { message: string | undefined }) {
  if (!props.message) return null;
  return (
    <p class="error" role="alert">
      {props.message}
    </p>
  );
}
