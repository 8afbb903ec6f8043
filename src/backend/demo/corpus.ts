/**
 * The demo workspace's training corpus: customer-support answers and notification sentences for a small online tea
 * shop, in English and Korean. Written for Larder by its authors (no text copied from anywhere); licensed like the
 * rest of the project (MIT, see package.json). `larder demo` trains a small student on it for about a minute, so
 * the demo model writes recognisable words; the request log, cache entries and templates of the demo are built
 * from the same questions.
 */

/** A customer question and the answer the shop's support team would give. */
export interface SupportPair {
  question: string
  answer: string
}

export const SUPPORT_EN: readonly SupportPair[] = [
  {
    question: 'Where is my order?',
    answer:
      'You can follow your order on the Orders page; the tracking link appears as soon as the parcel leaves our warehouse.',
  },
  {
    question: 'How long does shipping take?',
    answer: 'Orders ship within one working day and usually arrive two to four days later.',
  },
  {
    question: 'Do you ship abroad?',
    answer: 'Yes, we ship to most countries in Europe and Asia; the checkout shows the exact cost before you pay.',
  },
  {
    question: 'How much is shipping?',
    answer: 'Shipping is free above 40 euros; below that it costs 4.90 euros within the country.',
  },
  {
    question: 'Can I change my delivery address?',
    answer: 'Yes, as long as the order has not shipped yet: open the order and choose Change address.',
  },
  {
    question: 'Can I cancel my order?',
    answer: 'You can cancel an order until it is packed; after that, please return it once it arrives.',
  },
  {
    question: 'How do I return an item?',
    answer:
      'Start a return from the Orders page, print the label and drop the parcel at any post office within 30 days.',
  },
  {
    question: 'When will I get my refund?',
    answer: 'Refunds reach your card three to five working days after the return arrives at our warehouse.',
  },
  {
    question: 'My tea arrived damaged.',
    answer: 'We are sorry about that. Send us a photo of the package and we will ship a replacement right away.',
  },
  {
    question: 'I received the wrong item.',
    answer: 'Sorry for the mix-up. Keep the item, and we will send the right one today at no cost.',
  },
  {
    question: 'How do I reset my password?',
    answer: 'Click Forgot password on the sign-in page and follow the link we send to your email.',
  },
  {
    question: 'I cannot log in.',
    answer: 'Check that caps lock is off and reset your password if needed; the link is valid for one hour.',
  },
  {
    question: 'How do I delete my account?',
    answer: 'Go to Settings, then Account, then Delete account; your data is removed within 30 days.',
  },
  {
    question: 'Do you have a loyalty program?',
    answer: 'Yes, every order earns points, and 100 points give you a 5 euro discount on the next one.',
  },
  {
    question: 'How do I use a discount code?',
    answer: 'Enter the code in the basket before checkout; the discount shows in the total right away.',
  },
  {
    question: 'My discount code does not work.',
    answer: 'Codes are valid for one order and cannot be combined; check the expiry date in the email that sent it.',
  },
  {
    question: 'Which payment methods do you accept?',
    answer: 'We accept cards, bank transfer and the usual mobile wallets.',
  },
  {
    question: 'Was I charged twice?',
    answer:
      'A second charge is usually a card check that disappears within three days; if it stays, send us the receipt.',
  },
  {
    question: 'Can I get an invoice?',
    answer: 'Every order has a PDF invoice on the Orders page; you can add a company name before downloading it.',
  },
  {
    question: 'How should I store loose tea?',
    answer: 'Keep it in an airtight tin, away from light, heat and strong smells; most teas stay fresh for a year.',
  },
  {
    question: 'How long should I steep green tea?',
    answer: 'Steep green tea for two minutes in water at about 80 degrees; hotter water makes it bitter.',
  },
  {
    question: 'How long should I steep black tea?',
    answer: 'Steep black tea for three to four minutes in freshly boiled water.',
  },
  {
    question: 'Is your tea organic?',
    answer: 'Most of our teas are certified organic; the label on each product page says which ones.',
  },
  {
    question: 'Does this tea contain caffeine?',
    answer: 'Green, black and oolong teas contain caffeine; our herbal blends are caffeine free.',
  },
  {
    question: 'Do you sell gift cards?',
    answer: 'Yes, gift cards from 10 to 200 euros are sent by email and never expire.',
  },
  {
    question: 'Can I add a gift message?',
    answer: 'Yes, write your message at checkout and we print it on a card inside the parcel.',
  },
  {
    question: 'Do you have a subscription?',
    answer: 'Our monthly box brings three new teas each month; you can pause or cancel it at any time.',
  },
  {
    question: 'How do I pause my subscription?',
    answer: 'Open Subscriptions in your account and choose Pause; nothing ships until you resume it.',
  },
  {
    question: 'Are you open on weekends?',
    answer:
      'Our support team answers from Monday to Friday, 9 to 18; messages sent on the weekend are answered on Monday.',
  },
  {
    question: 'How can I contact you?',
    answer: 'Write to us through the help page or reply to any order email; we answer within one working day.',
  },
  {
    question: 'Is the matcha in stock?',
    answer: 'The product page shows live stock; sign up there and we email you when it is back.',
  },
  {
    question: 'Do you sell teapots?',
    answer: 'Yes, we have glass and clay teapots as well as cups and strainers in the Tea ware section.',
  },
]

export const SUPPORT_KO: readonly SupportPair[] = [
  {
    question: '주문한 상품은 어디쯤 왔나요?',
    answer: '주문 내역 페이지에서 배송 상황을 확인하실 수 있습니다. 상품이 창고에서 출발하면 운송장 링크가 표시됩니다.',
  },
  {
    question: '배송은 얼마나 걸리나요?',
    answer: '주문은 영업일 기준 하루 안에 출고되며, 보통 이삼 일 뒤에 도착합니다.',
  },
  {
    question: '해외 배송도 되나요?',
    answer: '네, 유럽과 아시아 대부분의 국가로 배송합니다. 결제 전에 정확한 배송비를 확인하실 수 있습니다.',
  },
  {
    question: '배송비는 얼마인가요?',
    answer: '4만 원 이상 주문하시면 무료 배송이며, 그보다 적으면 국내 배송비 3천 원이 붙습니다.',
  },
  {
    question: '배송지를 바꿀 수 있나요?',
    answer: '아직 출고 전이라면 가능합니다. 주문을 열고 배송지 변경을 눌러 주세요.',
  },
  {
    question: '주문을 취소하고 싶어요.',
    answer: '포장 전까지는 취소하실 수 있습니다. 그 이후에는 상품을 받으신 뒤 반품해 주세요.',
  },
  {
    question: '반품은 어떻게 하나요?',
    answer: '주문 내역에서 반품을 신청하고 라벨을 출력한 뒤 30일 안에 가까운 우체국에 맡겨 주세요.',
  },
  {
    question: '환불은 언제 되나요?',
    answer: '반품 상품이 창고에 도착한 뒤 영업일 기준 3일에서 5일 안에 카드로 환불됩니다.',
  },
  {
    question: '차가 파손된 채로 왔어요.',
    answer: '불편을 드려 죄송합니다. 포장 사진을 보내 주시면 바로 새 상품을 보내 드리겠습니다.',
  },
  {
    question: '다른 상품이 왔어요.',
    answer:
      '착오가 있었네요, 죄송합니다. 받으신 상품은 그대로 두시고, 주문하신 상품을 오늘 무료로 다시 보내 드리겠습니다.',
  },
  {
    question: '비밀번호를 잊어버렸어요.',
    answer: '로그인 화면에서 비밀번호 찾기를 누르고 이메일로 받은 링크를 따라 주세요.',
  },
  {
    question: '로그인이 안 돼요.',
    answer: 'Caps Lock이 꺼져 있는지 확인하시고, 필요하면 비밀번호를 재설정해 주세요. 링크는 한 시간 동안 유효합니다.',
  },
  {
    question: '회원 탈퇴는 어떻게 하나요?',
    answer: '설정, 계정, 탈퇴 순서로 들어가시면 됩니다. 정보는 30일 안에 모두 삭제됩니다.',
  },
  {
    question: '적립금 제도가 있나요?',
    answer: '네, 주문할 때마다 포인트가 쌓이며 100포인트로 다음 주문에서 5천 원을 할인받으실 수 있습니다.',
  },
  {
    question: '할인 코드는 어떻게 쓰나요?',
    answer: '결제 전에 장바구니에서 코드를 입력하시면 합계에 바로 할인이 반영됩니다.',
  },
  {
    question: '할인 코드가 적용되지 않아요.',
    answer:
      '코드는 주문 한 건에만 쓸 수 있고 다른 할인과 함께 쓸 수 없습니다. 코드를 받은 메일에서 유효 기간을 확인해 주세요.',
  },
  {
    question: '어떤 결제 수단을 쓸 수 있나요?',
    answer: '카드, 계좌 이체, 그리고 주요 간편 결제를 이용하실 수 있습니다.',
  },
  {
    question: '결제가 두 번 된 것 같아요.',
    answer: '두 번째 결제는 대개 카드 확인용이며 3일 안에 사라집니다. 계속 남아 있으면 영수증을 보내 주세요.',
  },
  {
    question: '영수증을 받을 수 있나요?',
    answer: '모든 주문에는 주문 내역 페이지에 PDF 영수증이 있습니다. 내려받기 전에 회사 이름을 넣을 수 있습니다.',
  },
  {
    question: '잎차는 어떻게 보관하나요?',
    answer: '빛과 열, 강한 냄새를 피해 밀폐 용기에 보관해 주세요. 대부분의 차는 1년 동안 신선합니다.',
  },
  {
    question: '녹차는 얼마나 우려야 하나요?',
    answer: '녹차는 80도 정도의 물에 2분 동안 우려 주세요. 물이 너무 뜨거우면 쓴맛이 납니다.',
  },
  { question: '홍차는 얼마나 우려야 하나요?', answer: '홍차는 막 끓인 물에 3분에서 4분 동안 우려 주세요.' },
  {
    question: '유기농 차인가요?',
    answer: '대부분의 차가 유기농 인증을 받았습니다. 각 상품 페이지의 표시를 확인해 주세요.',
  },
  {
    question: '카페인이 들어 있나요?',
    answer: '녹차, 홍차, 우롱차에는 카페인이 있고, 허브 블렌드에는 카페인이 없습니다.',
  },
  {
    question: '상품권도 파나요?',
    answer: '네, 1만 원부터 20만 원까지의 상품권을 이메일로 보내 드리며 유효 기간은 없습니다.',
  },
  {
    question: '선물 메시지를 넣을 수 있나요?',
    answer: '네, 결제할 때 메시지를 적어 주시면 카드에 인쇄해 상자에 넣어 드립니다.',
  },
  {
    question: '정기 구독이 있나요?',
    answer: '매달 새로운 차 세 가지를 보내 드리는 구독 상자가 있으며, 언제든 멈추거나 해지하실 수 있습니다.',
  },
  {
    question: '구독을 잠시 멈출 수 있나요?',
    answer: '계정의 구독 메뉴에서 일시 정지를 누르시면 다시 시작할 때까지 배송되지 않습니다.',
  },
  {
    question: '주말에도 상담하나요?',
    answer: '상담은 월요일부터 금요일, 오전 9시부터 오후 6시까지입니다. 주말 문의는 월요일에 답변드립니다.',
  },
  {
    question: '어떻게 문의하나요?',
    answer: '도움말 페이지에서 문의하시거나 주문 메일에 답장해 주세요. 영업일 기준 하루 안에 답변드립니다.',
  },
  {
    question: '말차 재고가 있나요?',
    answer: '상품 페이지에서 실시간 재고를 보실 수 있습니다. 입고 알림을 신청하시면 메일로 알려 드립니다.',
  },
  { question: '찻주전자도 파나요?', answer: '네, 다기 코너에 유리와 도자기 찻주전자, 찻잔, 거름망이 있습니다.' },
]

/** The kind of notification and a sentence the shop sends for it. */
export interface NotificationSentence {
  event: string
  text: string
}

export const NOTIFICATIONS_EN: readonly NotificationSentence[] = [
  { event: 'order confirmed', text: 'Thank you for your order! We are packing your tea now.' },
  { event: 'order confirmed', text: 'Your order is confirmed and will leave our warehouse tomorrow.' },
  { event: 'order shipped', text: 'Good news: your tea is on its way and should arrive in two to four days.' },
  { event: 'order shipped', text: 'Your parcel has shipped. Follow it with the tracking link in your account.' },
  { event: 'order delivered', text: 'Your parcel was delivered today. Enjoy your tea!' },
  { event: 'order delayed', text: 'Your parcel is running a little late; we expect it to arrive within two days.' },
  { event: 'refund sent', text: 'Your refund is on its way and will reach your card within five working days.' },
  { event: 'back in stock', text: 'The tea you were waiting for is back in stock. Order soon, it sells out fast.' },
  { event: 'subscription renewed', text: 'Your monthly tea box has renewed. Three new teas are on their way.' },
  { event: 'password changed', text: 'Your password was changed. If this was not you, please contact us right away.' },
  { event: 'points earned', text: 'You earned new points with this order. Use them on your next cup.' },
  { event: 'review request', text: 'How did you like your tea? Tell us in a short review.' },
]

export const NOTIFICATIONS_KO: readonly NotificationSentence[] = [
  { event: '주문 확인', text: '주문해 주셔서 감사합니다! 지금 차를 포장하고 있습니다.' },
  { event: '주문 확인', text: '주문이 확인되었으며 내일 창고에서 출발합니다.' },
  { event: '배송 시작', text: '반가운 소식입니다. 차가 출발했으며 이삼 일 안에 도착할 예정입니다.' },
  { event: '배송 시작', text: '상품이 발송되었습니다. 계정의 운송장 링크로 배송 상황을 확인해 주세요.' },
  { event: '배송 완료', text: '오늘 상품이 도착했습니다. 맛있는 차 시간 보내세요!' },
  { event: '배송 지연', text: '배송이 조금 늦어지고 있습니다. 이틀 안에 도착할 예정입니다.' },
  { event: '환불 완료', text: '환불이 진행되었으며 영업일 기준 5일 안에 카드로 들어갑니다.' },
  { event: '재입고', text: '기다리시던 차가 다시 입고되었습니다. 금방 품절되니 서둘러 주세요.' },
  { event: '구독 갱신', text: '이번 달 구독 상자가 갱신되었습니다. 새로운 차 세 가지가 곧 도착합니다.' },
  { event: '비밀번호 변경', text: '비밀번호가 변경되었습니다. 본인이 아니라면 바로 문의해 주세요.' },
  { event: '포인트 적립', text: '이번 주문으로 포인트가 적립되었습니다. 다음 차에 사용해 보세요.' },
  { event: '리뷰 요청', text: '차는 마음에 드셨나요? 짧은 후기를 남겨 주세요.' },
]

/** Ways customers phrase the same question, for the long tail of the demo request log. */
export const PARAPHRASE_PREFIXES_EN = ['Hi, ', 'Hello! ', 'Quick question: ', 'Please help: ', '']
export const PARAPHRASE_PREFIXES_KO = ['안녕하세요, ', '문의드립니다. ', '질문이 있어요. ', '']
